"""Bring your own network: a PyTorch `nn.Module` traced into a spec (`shufflecalc import`), the round-trip proof that
the spec is the model, and a hand-written spec checked layer by layer against the real network (`verify --against`).

- `model`: the layer record and imported model both importers read into, and the spec writers' helpers (torch-free);
- `target`: a TARGET (``torchvision:NAME``, ``pkg.module:callable``, ``path/to/file.py:callable``) made into a model;
- `trace`: torch.fx's trace of the model, every node mapped to a spec layer kind (`import_model`);
- `emit`: the mapped layers as a readable spec YAML (torch-free, as `fold`);
- `fold`: repeated module classes as user-defined blocks, consecutive uses as numbered stages;
- `proof`: the spec's analytic counts and its torch model against the original model;
- `against`: a spec's layers against a model's, in forward order, to the first divergence;
- `onnxread`: an ONNX file read into the same model without torch (emitted and folded the same way);
- `cache`: TARGETs wherever a spec is named, imported once and cached on disk (a cache hit imports no torch).

This wing imports torch (it sits above `bridge`, whose builder and attention setting it uses), except `model`,
`emit`, `fold` and `onnxread`, which tests/test_layout.py imports with torch unimportable.
"""
