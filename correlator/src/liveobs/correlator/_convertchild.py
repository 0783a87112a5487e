"""The conversion process's entry point (see _spoolconvert): ``python -m liveobs.correlator._convertchild``.

pyarrow imports pandas, where it is installed, the first time it builds an array
from Python values (to check whether they are pandas objects). The conversion
process never holds a pandas object, and pandas would add about 35 MiB to its
resident memory, so before anything else is imported pandas is made missing
here, as if it were not installed; pyarrow then works without it. Only this
process, which liveobs starts for itself, does so.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Final

UNUSED: Final = frozenset({"pandas"})


class WithoutUnused(importlib.abc.MetaPathFinder):
    """Importing a package of :data:`UNUSED`, or one of its modules, fails with ``ModuleNotFoundError``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in UNUSED:
            raise ModuleNotFoundError(f"{fullname} is not used by the conversion process", name=fullname)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, WithoutUnused())
    from liveobs.correlator._spoolconvert import main

    main(sys.argv[1:])
