"""The installed distribution's version (from its metadata, so pyproject.toml is the one source)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anynet-zoo")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
