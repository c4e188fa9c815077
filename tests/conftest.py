"""Shared fixtures: a fresh plugin manager per test that needs one, and offline defaults.

The float rule for every test here: results computed under different shapes, batch sizes, device or
thread counts, or conv lowerings are compared to a tolerance (np.testing.assert_allclose, pytest.approx),
never bit for bit, because one float32 ulp differs between CPUs and between vectorisations. Exact equality
is kept only where the same computation runs twice on one machine (save/load round trips, resume ==
uninterrupted, a seeded rerun), and for integers, labels, orders and shapes.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the real Hub
# Conv lowerings follow the static rule, so a test's program does not depend on timings taken on
# a loaded machine; tests/test_conv_tuning.py turns tuning on with a table of its own.
os.environ.setdefault("ZOO_CONV_TUNING", "off")

# The loopback Hub: its `hub` fixture is shared with every test module from here.
pytest_plugins = ["hubserver"]


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Rebuild plugin discovery for this test (env vars re-read) and again afterwards."""
    import zoo.plugins

    zoo.plugins.reset()
    yield monkeypatch
    zoo.plugins.reset()
