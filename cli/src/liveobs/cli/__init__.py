"""The ``liveobs`` command."""

from liveobs.cli._root import main

__all__ = ["main"]
