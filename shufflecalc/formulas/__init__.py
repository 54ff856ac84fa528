"""The papers' closed-form formulas, explain, the groups study, the channel shuffle (no torch)."""
