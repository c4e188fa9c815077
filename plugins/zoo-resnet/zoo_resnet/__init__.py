"""zoo-resnet: the hand-designed baselines the design-space approach is measured against.

Contributes the `resnet` stem (7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool), the
`resnet_basic` and `resnet_bottleneck` blocks (stride on the 3x3 conv, as torchvision v1.5
and pycls), and the models resnet18/34/50 and resnext50_32x4d. Registers through the
`zoo.plugins` entry point, exactly as a third-party plugin does.
"""

from __future__ import annotations

from pathlib import Path

from zoo import plugin_kit as kit
from zoo_resnet.blocks import BasicBlock, basic_block_cost
from zoo_resnet.stem import ResNetStem, resnet_stem_cost

MODELS_FILE = Path(__file__).with_name("models.toml")

__all__ = ["BasicBlock", "MODELS_FILE", "ResNetStem", "basic_block_cost", "resnet_stem_cost"]


@kit.hookimpl
def zoo_add_stems():
    return [kit.Stem("resnet", ResNetStem, resnet_stem_cost, "7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool")]


@kit.hookimpl
def zoo_add_blocks():
    return [
        kit.Block("resnet_basic", BasicBlock, basic_block_cost, "ResNet basic block: two 3x3 convs (ResNet-18/34)"),
        # torchvision's (v1.5) bottleneck is exactly the zoo's ResNeXt block with one group:
        # 1x1 -> 3x3 carrying the stride -> 1x1, projected skip. Reused, not copied.
        kit.Block("resnet_bottleneck", kit.ResNeXtBlock, kit.resnext_cost, "ResNet bottleneck block (ResNet-50, X-50)"),
    ]


@kit.hookimpl
def zoo_add_models():
    return MODELS_FILE
