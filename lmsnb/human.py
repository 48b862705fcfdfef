"""Numbers people read: sizes, durations, counts — one spelling for tables, widgets and messages."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["size", "duration", "number", "plural"]


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def size(nbytes: Any) -> str:
    """``20 MB``, ``808 MB``, ``4.7 GB`` (decimal units, as LM Studio shows them); ``""`` if unknown."""
    v = _finite(nbytes)
    if v is None or v <= 0:
        return ""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= scale:
            x = v / scale
            return f"{x:.1f} {unit}" if unit in ("TB", "GB") and x < 100 else f"{x:.0f} {unit}"
    return f"{v:.0f} B"


def duration(seconds: Any) -> str:
    """``45 s``, ``10 min``, ``1 h 30 min``; ``""`` if unknown."""
    v = _finite(seconds)
    if v is None or v < 0:
        return ""
    if v < 90:
        return f"{v:.0f} s" if v >= 10 or v == int(v) else f"{v:.1f} s"
    minutes = round(v / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def number(value: Any) -> str:
    """``8,192``; ``""`` if unknown."""
    v = _finite(value)
    return "" if v is None else f"{v:,.0f}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 community level``, ``3 community levels``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
