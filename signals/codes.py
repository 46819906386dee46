"""Indiana high-resolution event codes: the names from the packaged table, and the codes the
coverage log reads.

The table (``event_codes.csv``) is derived from the published enumeration by
``signals/derive_codes.py``; the service never needs the shared data folder to name a code.
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources
from typing import NamedTuple

# Codes the coverage log reads (Indiana Traffic Signal Hi Resolution Data Logger Enumerations).
PHASE_BEGIN_GREEN = 1
PHASE_GAP_OUT = 4
PHASE_MAX_OUT = 5
PHASE_FORCE_OFF = 6
COORD_PATTERN_CHANGE = 131
CYCLE_LENGTH_CHANGE = 132
SPLIT_CHANGE_FIRST = 134  # split 1 change ... split 16 change = 149
SPLIT_CHANGE_LAST = 149
UNIT_FLASH_STATUS = 173

#: Parameter of 173 meaning "not in flash" (NTCIP 1202 unitFlashStatus: 2 = notFlash).
FLASH_STATUS_NOT_FLASH = 2
#: Coordination pattern numbers ATSPM reserves: 254 free (no coordination), 255 flash.
PATTERN_FREE = 254
PATTERN_FLASH = 255

#: The codes whose individual events the daily log needs (detector events are only counted).
LOG_CODES: tuple[int, ...] = (
    PHASE_BEGIN_GREEN, PHASE_GAP_OUT, PHASE_MAX_OUT, PHASE_FORCE_OFF, COORD_PATTERN_CHANGE,
    CYCLE_LENGTH_CHANGE, *range(SPLIT_CHANGE_FIRST, SPLIT_CHANGE_LAST + 1), UNIT_FLASH_STATUS,
)


class EventCode(NamedTuple):
    code: int
    name: str
    display_name: str
    param_type: str
    category: str
    section: str


@functools.cache
def event_codes() -> dict[int, EventCode]:
    text = (resources.files("signals") / "event_codes.csv").read_text(encoding="utf-8")
    table: dict[int, EventCode] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = int(row["code"])
        table[code] = EventCode(code, row["name"], row["display_name"], row["param_type"],
                                row["category"], row["section"])
    return table


def find_event_code(code: int) -> EventCode | None:
    return event_codes().get(code)


def event_name(code: int) -> str:
    """The enumeration name (``PhaseGapOut``), or ``Unknown<code>`` for a code not in the table."""
    found = event_codes().get(code)
    return found.name if found else f"Unknown{code}"


def name_counts(counts: dict[int, int]) -> dict[str, dict[str, object]]:
    """``{code: count}`` as the JSON the import reports: each code with its names and count."""
    out: dict[str, dict[str, object]] = {}
    for code in sorted(counts):
        found = event_codes().get(code)
        out[str(code)] = {
            "name": found.name if found else None,
            "display_name": found.display_name if found else "not in the Indiana enumeration",
            "count": counts[code],
        }
    return out
