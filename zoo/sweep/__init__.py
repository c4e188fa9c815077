"""Design-space exploration: sample a space into a complexity band, train the samples, compare EDFs."""
