"""Analytic complexity bookkeeping, as pycls counts it.

A Cost carries the running spatial size and the totals; each layer helper returns a new
Cost. flops are multiply-accumulates of conv and linear layers; params count trainable
parameters (BN scale and shift, not running statistics); acts count output elements of
convs and linears. Component authors use these helpers to count their own layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Cost:
    h: int
    w: int
    flops: int = 0
    params: int = 0
    acts: int = 0

    def conv(self, w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1, bias: bool = False) -> Cost:
        """A k x k convolution padded by k // 2 (odd k), as every conv in the zoo is."""
        h, w = (self.h - 1) // stride + 1, (self.w - 1) // stride + 1
        return Cost(
            h=h,
            w=w,
            flops=self.flops + k * k * w_in * w_out * h * w // groups + (w_out * h * w if bias else 0),
            params=self.params + k * k * w_in * w_out // groups + (w_out if bias else 0),
            acts=self.acts + w_out * h * w,
        )

    def norm(self, channels: int) -> Cost:
        """A batch norm: scale and shift are trainable."""
        return replace(self, params=self.params + 2 * channels)

    def pool(self, channels: int, k: int, *, stride: int = 1) -> Cost:
        """A k x k max or average pool padded by k // 2."""
        h, w = (self.h - 1) // stride + 1, (self.w - 1) // stride + 1
        return replace(self, h=h, w=w, acts=self.acts + channels * h * w)

    def global_pool(self) -> Cost:
        return replace(self, h=1, w=1)

    def linear(self, w_in: int, w_out: int, *, bias: bool = True) -> Cost:
        return Cost(
            h=self.h,
            w=self.w,
            flops=self.flops + w_in * w_out + (w_out if bias else 0),
            params=self.params + w_in * w_out + (w_out if bias else 0),
            acts=self.acts + w_out,
        )

    def at(self, h: int, w: int) -> Cost:
        """The same totals at another spatial size (for side branches: skips, SE)."""
        return replace(self, h=h, w=w)

    def totals(self) -> dict[str, int]:
        return {"params": self.params, "flops": self.flops, "acts": self.acts}
