"""A second process compiling the same model and shapes loads the program from the zoo's cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from zoo import compilation_cache

PROGRAM = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    from jax import monitoring
    import zoo
    from zoo.compilation_cache import enable_compilation_cache

    hits = []
    monitoring.register_event_listener(lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
    folder = enable_compilation_cache()
    spec = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, num_classes=3, input_size=8)
    model = zoo.create(spec)
    from flax import nnx
    graphdef, state = nnx.split(model)
    loss = lambda state, x: nnx.merge(graphdef, state)(x).sum()
    jax.jit(jax.grad(loss)).lower(state, jnp.ones((2, 8, 8, 3))).compile()
    print(folder, len(hits))
    """
)


def run(env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "ZOO_COMPILATION"))}
    env.update(XDG_CACHE_HOME=str(tmp_path), **env_extra)
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    folder, hits = out.stdout.split()[-2:]
    return folder, int(hits)


def test_second_process_hits_the_cache(tmp_path):
    folder, hits = run({}, tmp_path)
    assert folder == str(tmp_path / "anynet-zoo" / "jax")
    assert hits == 0
    assert any((tmp_path / "anynet-zoo" / "jax").iterdir())
    _, hits = run({}, tmp_path)
    assert hits >= 1


def test_cache_can_be_switched_off(tmp_path):
    folder, hits = run({"ZOO_COMPILATION_CACHE": "0"}, tmp_path)
    assert folder == "None" and hits == 0
    assert not (tmp_path / "anynet-zoo").exists()


def test_cache_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_COMPILATION_CACHE", str(tmp_path / "elsewhere"))
    assert compilation_cache.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv("ZOO_COMPILATION_CACHE", "off")
    assert compilation_cache.cache_dir() is None
    monkeypatch.delenv("ZOO_COMPILATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache.cache_dir() == tmp_path / "anynet-zoo" / "jax"
