"""JAX's persistent compilation cache, switched on for the zoo's commands.

Short jobs (a fine-tune, an eval, a sweep trial) spend most of their time compiling; with the
cache a second run of the same model and shapes loads the compiled program from disk instead
(bench/compile.py measures it). The cache lives in `$XDG_CACHE_HOME/anynet-zoo/jax`
(~/.cache/anynet-zoo/jax by default); ZOO_COMPILATION_CACHE=0 turns it off and
ZOO_COMPILATION_CACHE=/some/dir puts it elsewhere. A cache folder the user already gave JAX
(JAX_COMPILATION_CACHE_DIR) is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "ZOO_COMPILATION_CACHE"
# CPU programs of small models compile in well under JAX's default 1 s threshold, and are
# still worth keeping; programs below this compile too fast for a disk read to pay.
MIN_COMPILE_SECONDS = 0.1


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anynet-zoo" / "jax"


def cache_dir() -> Path | None:
    """Where compiled programs are kept, or None when ZOO_COMPILATION_CACHE turns the cache off."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in ("0", "false", "no", "off"):
        return None
    if setting and setting.lower() not in ("1", "true", "yes", "on"):
        return Path(setting).expanduser()
    return default_dir()


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent cache at the zoo's folder (unless off or set already); returns the folder in use."""
    import jax

    folder = cache_dir()
    if folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    configured = jax.config.values["jax_compilation_cache_dir"]  # flag attributes are not in the stubs
    if configured:
        return Path(configured)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: everything still runs, only without the cache
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
