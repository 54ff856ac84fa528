"""The analysis of a graph: totals, cost, sweeps, paper tables, budgets (no torch)."""
