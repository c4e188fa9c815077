"""A forward pass compiled for inference, with the XLA options measured fastest on the CPU.

On this project's CPUs, XLA's default YNNPACK fusion settings slow inference of this model
family by about a quarter (regnetx_032, batch 8: 22 -> 29 img/s with them off), while
they speed up the training step, so the choice is made per compiled function rather than
process-wide through XLA_FLAGS (bench/NOTES.md).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from flax import nnx

CPU_INFERENCE_OPTIONS: dict[str, str | bool] = {"xla_cpu_experimental_ynn_fusion_type": ""}


def compile_forward(model: nnx.Module, example: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """Eval-mode logits for inputs shaped like `example`, as one compiled function.

    The model is switched to eval mode and its current weights are captured; call
    compile_forward again after changing them.
    """
    model.eval()
    graphdef, state = nnx.split(model)
    lowered = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x)).lower(state, example)
    compiled = None
    if jax.default_backend() == "cpu":
        try:
            compiled = lowered.compile(compiler_options=CPU_INFERENCE_OPTIONS)
        except Exception:  # an XLA without this option: its defaults are what we have
            compiled = None
    if compiled is None:
        compiled = lowered.compile()
    return lambda x: compiled(state, x)
