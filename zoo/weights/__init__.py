"""Weights: safetensors files of NNX state, config.json, adaptation, foreign layouts, the pretrained build."""
