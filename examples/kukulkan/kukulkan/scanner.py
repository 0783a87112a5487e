"""The upload scan: a small content check run on every uploaded file.

It looks for the EICAR anti-virus test signature anywhere in the file and for
executable headers (Windows PE, ELF, Mach-O) at its start. Real deployments
put ClamAV here; the verdict and its evidence have the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SCANNER_NAME: Final = "kukulkan-signatures/1"
# Spelled in two halves so that this source file is not itself a test "virus".
EICAR: Final = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_EXECUTABLE_MAGIC: Final = (
    (b"\x7fELF", "elf-executable"),
    (b"\xcf\xfa\xed\xfe", "macho-executable"),
    (b"\xfe\xed\xfa\xcf", "macho-executable"),
)


@dataclass(frozen=True, slots=True)
class Verdict:
    clean: bool
    signature: str | None = None


def scan(content: bytes) -> Verdict:
    """The verdict for ``content``: clean, or the name of the first signature found."""
    if EICAR in content:
        return Verdict(False, "eicar-test-signature")
    if content.startswith(b"MZ") and b"PE\0\0" in content[:1024]:
        return Verdict(False, "pe-executable")
    for magic, name in _EXECUTABLE_MAGIC:
        if content.startswith(magic):
            return Verdict(False, name)
    return Verdict(True)
