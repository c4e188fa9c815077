"""Shared fixtures: a fresh plugin manager per test that needs one, and offline defaults."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the real Hub


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Rebuild plugin discovery for this test (env vars re-read) and again afterwards."""
    import zoo.plugins

    zoo.plugins.reset()
    yield monkeypatch
    zoo.plugins.reset()
