"""The EICAR anti-virus test file: the canary an upload scanner must refuse.

Every scanner treats this harmless 68-byte file as malware, so uploading it shows
whether uploads are scanned at all. The file may be followed by whitespace up
to 128 bytes in all; a scanner that calls it clean is not scanning.
"""

from __future__ import annotations

import hashlib
from typing import Final

# Spelled in two halves so this source file is not itself taken for the test file.
EICAR: Final = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MAX_BYTES: Final = 128
CANARY_EICAR: Final = "eicar"


def canary_of(content: bytes) -> str | None:
    """``"eicar"`` when ``content`` is the EICAR test file, else None."""
    if len(content) <= EICAR_MAX_BYTES and content.startswith(EICAR) and not content[len(EICAR):].strip():
        return CANARY_EICAR
    return None


def upload_digest(content: bytes) -> str:
    """The SHA-256 of an upload in hex: what the evidence keeps of its content."""
    return hashlib.sha256(content).hexdigest()


# The digests of the canary as commonly written (bare, with a newline, with CRLF).
EICAR_DIGESTS: Final = frozenset(upload_digest(EICAR + end) for end in (b"", b"\n", b"\r\n"))
