"""zoo-anynetx: the paper's AnyNetX_A..E design spaces as pluggable design rules.

Each space is a `kit.DesignRule` (`anynetx_a` ... `anynetx_e`) whose `expand(params)` turns
per-stage lists d (depths), w (widths), b (bottleneck ratios) and g (group widths) into
stages, refusing parameters outside the space, and whose `sample(rng)` draws the params of
one random model of the space. Registers through the `zoo.plugins` entry point.
"""

from __future__ import annotations

from zoo import plugin_kit as kit
from zoo_anynetx.spaces import SPACES, AnyNetXSpace

__all__ = ["SPACES", "AnyNetXSpace"]


@kit.hookimpl
def zoo_add_design_rules():
    return [
        kit.DesignRule(space.name, space.expand, space.description, sample=space.sample) for space in SPACES.values()
    ]
