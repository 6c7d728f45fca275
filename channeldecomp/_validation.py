"""Argument checks and message helpers shared by the package's modules (one copy of each)."""

from __future__ import annotations

import numbers


def _describe(names, limit=6):
    """The first ``limit`` of ``names`` as a comma-separated list of reprs, for error messages.

    Examples
    --------
    >>> _describe(["a", "b"])
    "'a', 'b'"
    >>> _describe(range(10), limit=3)
    '0, 1, 2, ... (10 in all)'
    """
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in all)"
    return shown


def _check_fraction(name, value, *, upper_open=False):
    """``value`` as a float in [0, 1] (in [0, 1) with ``upper_open``); else a ValueError.

    Examples
    --------
    >>> _check_fraction("label_noise", 0.1)
    0.1
    >>> _check_fraction("bad_fraction", 1, upper_open=True)
    Traceback (most recent call last):
    ...
    ValueError: bad_fraction must be in [0, 1); got 1.
    """
    ok = (
        isinstance(value, numbers.Real) and 0 <= value and (value < 1 if upper_open else value <= 1)
    )
    if not ok:
        raise ValueError(f"{name} must be in [0, 1{')' if upper_open else ']'}; got {value!r}.")
    return float(value)
