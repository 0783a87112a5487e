"""Kukulkan's release tooling: build its wheels, lay them out as release directories, supervise its units.

Not part of the app (its wheel never contains this package): this is what an
operator's deploy scripts do, written out for the example and ``make demo``.
"""
