"""Durations in VPL's units (`500ms`, `30s`, `1m`, `2h`, `1d`), and their shortest spelling.

Kept apart from the parser, so that what only prints durations (the plan, explain, the
console) does not load lark.
"""

from __future__ import annotations

DURATION_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def format_duration(millis: int) -> str:
    """The shortest VPL spelling of a duration, in its largest whole unit: 60000 → `1m`."""
    for unit, size in sorted(DURATION_UNITS_MS.items(), key=lambda item: -item[1]):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"
