"""Which reply parser redis-py uses in a benchmark run, and a switch to leave hiredis out.

redis-py picks its parser once, when ``redis`` is first imported: hiredis's C parser (and
its command packer) when the ``hiredis`` package imports, its pure-Python parser otherwise.
``KORTYX_BENCH_NO_HIREDIS=1`` makes a run behave as an install without hiredis, so the two
can be compared on one machine with the same packages. The package :mod:`benchmarks` applies
it before anything imports ``redis``.
"""

from __future__ import annotations

import os
import sys

NO_HIREDIS_VARIABLE = "KORTYX_BENCH_NO_HIREDIS"


def hide_hiredis_if_asked(environ: dict[str, str] | None = None) -> bool:
    """Make ``import hiredis`` fail when ``KORTYX_BENCH_NO_HIREDIS=1``; returns whether it did.

    Raises ``RuntimeError`` for any other non-empty value but ``0``, and when ``redis`` was
    imported already (its parser is chosen by then).
    """
    value = (os.environ if environ is None else environ).get(NO_HIREDIS_VARIABLE, "").strip()
    if value in ("", "0"):
        return False
    if value != "1":
        raise RuntimeError(f"{NO_HIREDIS_VARIABLE} must be 1 (or 0, or unset), not {value!r}")
    if "redis" in sys.modules:
        # Too late to change redis-py's choice, unless it found no hiredis (hidden or absent).
        if sys.modules.get("hiredis") is not None:
            raise RuntimeError(f"{NO_HIREDIS_VARIABLE}=1 must be applied before redis is imported")
        return True
    sys.modules["hiredis"] = None  # type: ignore[assignment]  # import hiredis: ImportError
    return True


def parser_in_use() -> str:
    """``"hiredis"`` or ``"python"``: the parser redis-py chose in this process."""
    import redis.utils

    return "hiredis" if redis.utils.HIREDIS_AVAILABLE else "python"
