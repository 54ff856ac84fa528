"""Reports: pure renderers from data to text, report builders, plots (only the CLI prints)."""
