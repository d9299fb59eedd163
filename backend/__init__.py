"""The bundled chinwag server: a Letta-compatible API on Starlette and SQLite."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chinwag")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
