"""The torch bridge: the Graph as an nn.Module, verification against fvcore and torch."""
