"""Indicators 7 and 30 from the signals package's coverage ratios.

The signals package decides which key intersections count (controller data, camera reports);
this module only puts its numerator, denominator and exclusions against the bureau's targets.
A ratio is read by its attributes (``numerator``, ``denominator`` and a list of
``(intersection_id, name, reason)``), so either side can grow fields without breaking the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from transit.reports.definitions import ELECTRONIC_POLICE, SIGNAL_TIMING, Definition
from transit.reports.indicators import Indicator, NotCounted, unavailable

_LIST_NAMES = ("not_counting", "not_counted", "excluded", "failing", "missing", "items")


def _exclusions(ratio: Any) -> Iterable[Any]:
    for name in _LIST_NAMES:
        items = getattr(ratio, name, None)
        if items is not None:
            return items
    return ()


def _item(entry: Any) -> NotCounted:
    if isinstance(entry, tuple | list):
        ident, name, reason = [*entry, "", "", ""][:3]
        return NotCounted("intersection", str(ident), str(name), str(reason))
    ident = getattr(entry, "intersection_id", None) or getattr(entry, "id", "")
    return NotCounted("intersection", str(ident), str(getattr(entry, "name", "")),
                      str(getattr(entry, "reason", "")))


def from_ratio(definition: Definition, ratio: Any | None, why_missing: str = "") -> Indicator:
    if ratio is None:
        return unavailable(definition.template(), why_missing or "no data from the signals package")
    numerator, denominator = int(ratio.numerator), int(ratio.denominator)
    notes: tuple[str, ...] = ()
    if denominator == 0:
        notes = ("未登记重要路口 no key intersections registered (transit intersections import FILE.csv).",)
    return replace(definition.template(), numerator=numerator, denominator=denominator,
                   not_counted=tuple(_item(e) for e in _exclusions(ratio)), notes=notes)


def signal_timing(ratio: Any | None, why_missing: str = "") -> Indicator:
    return from_ratio(SIGNAL_TIMING, ratio, why_missing)


def electronic_police(ratio: Any | None, why_missing: str = "") -> Indicator:
    return from_ratio(ELECTRONIC_POLICE, ratio, why_missing)
