"""Design-space rules: functions from a few parameters to a list of stages."""

from zoo.design.anynet import expand_anynet
from zoo.design.regnet import adjust_block_compatibility, expand_regnet, regnet_block_widths, regnet_stages

__all__ = ["expand_anynet", "expand_regnet", "adjust_block_compatibility", "regnet_block_widths", "regnet_stages"]
