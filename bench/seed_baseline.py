"""The performance baseline: a faithful Flax (linen) transcription of the seed's RegNetX32.

Plain flax.linen, the d2l book's ResNeXt block, XLA's own grouped convolution, as the
d2l.ai chapter writes it: convs with bias, BatchNorm with Flax's defaults, 'same' padding
in the blocks. bench/perf.py measures the zoo against this.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class BookResNeXtBlock(nn.Module):
    num_channels: int
    group_width: int
    bot_mul: float
    use_1x1conv: bool = False
    strides: tuple = (1, 1)
    training: bool = True

    @nn.compact
    def __call__(self, x):
        inner = int(round(self.num_channels * self.bot_mul))
        y = nn.Conv(inner, (1, 1))(x)
        y = nn.relu(nn.BatchNorm(not self.training)(y))
        y = nn.Conv(inner, (3, 3), strides=self.strides, padding="same", feature_group_count=inner // self.group_width)(
            y
        )
        y = nn.relu(nn.BatchNorm(not self.training)(y))
        y = nn.BatchNorm(not self.training)(nn.Conv(self.num_channels, (1, 1))(y))
        if self.use_1x1conv:
            x = nn.BatchNorm(not self.training)(nn.Conv(self.num_channels, (1, 1), strides=self.strides)(x))
        return nn.relu(y + x)


class BookRegNetX32(nn.Module):
    arch: tuple = ((4, 32, 16, 1), (6, 80, 16, 1))
    stem_channels: int = 32
    num_classes: int = 10
    training: bool = True

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.stem_channels, (3, 3), strides=(2, 2), padding=(1, 1))(x)
        x = nn.relu(nn.BatchNorm(not self.training)(x))
        for depth, width, group_width, bot_mul in self.arch:
            for i in range(depth):
                x = BookResNeXtBlock(
                    width,
                    group_width,
                    bot_mul,
                    use_1x1conv=i == 0,
                    strides=(2, 2) if i == 0 else (1, 1),
                    training=self.training,
                )(x)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes)(x)
