"""Flax NNX modules: the AnyNet template and the built-in components."""
