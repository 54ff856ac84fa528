"""Latency: timers and statistics, bench, profile, peak throughput."""
