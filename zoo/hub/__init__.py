"""The Hugging Face Hub: fetch (cache, pinning, verification), push, model cards, pretrained tags, CLI."""
