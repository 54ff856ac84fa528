"""The spec language: YAML loading, expressions, layer kinds, blocks, graph expansion (no torch)."""
