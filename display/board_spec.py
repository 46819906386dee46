"""A board's configuration as given by an operator (CSV row or JSON), checked field by field.

Pure: the caller passes the stop and route ids the active schedule knows (or None when no feed is
loaded yet, in which case references cannot be checked and are taken as given).  Every problem is
named with its field, so a bad CSV row or request body says exactly what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from display.keys import key_problem
from display.render_text import normalise_encoding

BOARD_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
REQUIRED = ("board_id", "stop_ids", "route_ids", "rows", "cols", "encoding", "languages", "key",
            "poll_interval_s", "location")
OPTIONAL = ("paging", "delivery", "frame_format", "message_mode")
FIELDS = REQUIRED + OPTIONAL
DELIVERIES = ("poll", "mqtt", "both")
FRAME_FORMATS = ("json", "raw")
MESSAGE_MODES = ("row", "page")
LIMITS = {"rows": (1, 32), "cols": (8, 256), "poll_interval_s": (1.0, 3600.0)}


@dataclass(frozen=True, slots=True)
class BoardSpec:
    board_id: str
    stop_ids: tuple[str, ...]
    route_ids: tuple[str, ...]  # empty: all lines
    rows: int
    cols: int
    encoding: str
    languages: str
    key: str | None  # None: keep the current key, or generate one for a new board
    poll_interval_s: float
    location: str = ""
    paging: bool = True
    delivery: str = "poll"
    frame_format: str = "json"
    message_mode: str = "row"


def _ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on", "是"):
        return True
    if text in ("0", "false", "no", "n", "off", "否"):
        return False
    return None


def _languages(value: Any) -> str | None:
    text = re.sub(r"[\s,;/_+-]+", "+", str(value).strip().lower())
    return {"zh": "zh", "中文": "zh", "zh+en": "zh+en", "en+zh": "zh+en", "中英": "zh+en"}.get(text)


def _number(name: str, value: Any, integer: bool, problems: list[str]) -> Any:
    low, high = LIMITS[name]
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip()) if integer else float(str(value).strip())
    except ValueError:
        problems.append(f"{name}: expected {'an integer' if integer else 'a number'}, got {value!r}")
        return None
    if not low <= number <= high:
        problems.append(f"{name}: must be between {low:g} and {high:g}, got {number:g}")
        return None
    return number


def parse_spec(
    raw: Mapping[str, Any],
    known_stops: Collection[str] | None = None,
    known_routes: Collection[str] | None = None,
) -> BoardSpec | list[str]:
    """A :class:`BoardSpec`, or the list of problems (each naming its field)."""
    problems: list[str] = []
    for name in raw:
        if name not in FIELDS:
            problems.append(f"{name}: unknown field (expected {', '.join(FIELDS)})")
    board_id = str(raw.get("board_id") or "").strip()
    if not BOARD_ID.match(board_id):
        problems.append(f"board_id: must be 1-64 letters, digits, '_', '.' or '-', got {board_id!r}")
    stop_ids = _ids(raw.get("stop_ids"))
    if not stop_ids:
        problems.append("stop_ids: at least one stop is required (separate several with ';')")
    elif known_stops is not None:
        unknown = [s for s in stop_ids if s not in known_stops]
        if unknown:
            problems.append(f"stop_ids: not in the active schedule: {', '.join(unknown)}")
    route_ids = _ids(raw.get("route_ids"))
    if route_ids and known_routes is not None:
        unknown = [r for r in route_ids if r not in known_routes]
        if unknown:
            problems.append(f"route_ids: not in the active schedule: {', '.join(unknown)}")
    rows = _number("rows", raw.get("rows"), True, problems)
    cols = _number("cols", raw.get("cols"), True, problems)
    interval = _number("poll_interval_s", raw.get("poll_interval_s"), False, problems)
    encoding = normalise_encoding(str(raw.get("encoding") or ""))
    if encoding is None:
        problems.append(f"encoding: must be GB2312, GBK or UTF-8, got {raw.get('encoding')!r}")
    languages = _languages(raw.get("languages") or "")
    if languages is None:
        problems.append(f"languages: must be 'zh' or 'zh+en', got {raw.get('languages')!r}")
    key = str(raw.get("key") or "").strip() or None
    if key is not None and (problem := key_problem(key)):
        problems.append(f"key: {problem}")
    location = str(raw.get("location") or "").strip()
    if len(location) > 200:
        problems.append("location: at most 200 characters")
    paging = True if raw.get("paging") in (None, "") else _bool(raw.get("paging"))
    if paging is None:
        problems.append(f"paging: expected true or false, got {raw.get('paging')!r}")
    choices: dict[str, str] = {}
    for name, allowed, default in (("delivery", DELIVERIES, "poll"), ("frame_format", FRAME_FORMATS, "json"),
                                   ("message_mode", MESSAGE_MODES, "row")):
        value = str(raw.get(name) or default).strip().lower()
        if value not in allowed:
            problems.append(f"{name}: must be one of {', '.join(allowed)}, got {raw.get(name)!r}")
        choices[name] = value
    if problems:
        return problems
    assert encoding is not None and languages is not None and paging is not None
    return BoardSpec(
        board_id=board_id, stop_ids=tuple(dict.fromkeys(stop_ids)), route_ids=tuple(dict.fromkeys(route_ids)),
        rows=rows, cols=cols, encoding=encoding, languages=languages, key=key,
        poll_interval_s=float(interval), location=location, paging=paging, **choices,
    )
