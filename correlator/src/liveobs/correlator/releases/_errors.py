"""The one error of the release commands: a malformed manifest, unit file or layout, said plainly."""

from __future__ import annotations


class ReleaseError(ValueError):
    """The release cannot be read or acted on; the message names the file, the key and what is wrong."""
