"""The two ratios the bureau reports over key intersections, for any period, from the coverage log.

Pure: plain inputs (the registry and the log's rows), no I/O.

* **Real-time signal-timing ratio** (路口实时信号配时系统比例): a key intersection counts when it had
  real-time signal timing on at least ``realtime_day_share`` of its in-service days in the period.
* **Electronic-police coverage ratio** (电子警察监控点覆盖率): a camera counts when it reported on at
  least ``camera_report_share`` of those days; an intersection counts when every camera of it
  counts (or any one, with ``epolice_all_cameras = false``) and it has at least one camera.

Days: those of the period from the intersection's in-service date up to today.  Today counts for
signal timing once its operating hours have begun (its figures cover the hours so far); for a
camera, today counts only once the camera has reported, since a camera's day is not over yet.
A past day without a log row had no data and does not count.

Every intersection in a denominator but not in its numerator is listed with the reason, so
``denominator - numerator == len(not_counted)``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from signals.coverage_day import REASON_NAMES_ZH
from transit.settings import SignalSettings


@dataclass(frozen=True, slots=True)
class IntersectionInfo:
    intersection_id: str
    name: str
    is_key: bool
    in_service_from: dt.date | None = None
    controller_ids: tuple[str, ...] = ()
    camera_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DayRecord:
    """What the ratios need from one coverage-log row."""

    intersection_id: str
    day: dt.date
    realtime: bool
    reason_code: str | None = None
    operating_min: float = 960.0
    partial: bool = False
    cameras_reported: Mapping[str, bool] = field(default_factory=dict)


class Shortfall(NamedTuple):
    """An intersection that does not count, and why (unpacks as ``(intersection_id, name, reason)``)."""

    intersection_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ratio:
    numerator: int
    denominator: int
    not_counted: tuple[Shortfall, ...]

    @property
    def value(self) -> float | None:
        """numerator / denominator, or None when there is nothing to count."""
        return self.numerator / self.denominator if self.denominator else None

    def as_json(self) -> dict[str, object]:
        return {"numerator": self.numerator, "denominator": self.denominator, "value": self.value,
                "not_counted": [s._asdict() for s in self.not_counted]}


@dataclass(frozen=True, slots=True)
class SignalRatios:
    date_from: dt.date
    date_to: dt.date
    realtime_timing: Ratio
    epolice: Ratio

    def as_json(self) -> dict[str, object]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "realtime_timing": self.realtime_timing.as_json(), "epolice": self.epolice.as_json()}


def _days(info: IntersectionInfo, date_from: dt.date, date_to: dt.date, today: dt.date) -> list[dt.date]:
    first = max(date_from, info.in_service_from) if info.in_service_from else date_from
    last = min(date_to, today)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _timing(info: IntersectionInfo, days: Sequence[dt.date], rows: Mapping[dt.date, DayRecord],
            today: dt.date, settings: SignalSettings) -> str | None:
    """None when the intersection counts, else the reason."""
    if not info.controller_ids:
        return f"{REASON_NAMES_ZH['no_controller']}: no signal controller is registered"
    counted = [d for d in days if d != today or (d in rows and rows[d].operating_min > 0)]
    if not counted:
        return "no operating day in the period yet"
    good = sum(1 for d in counted if d in rows and rows[d].realtime)
    if good >= settings.realtime_day_share * len(counted):
        return None
    why = Counter(rows[d].reason_code if d in rows else "no_data" for d in counted
                  if not (d in rows and rows[d].realtime))
    main = why.most_common(1)[0][0] or "no_data"
    detail = ", ".join(f"{REASON_NAMES_ZH.get(code or '', code)} {code} {n} d" for code, n in why.most_common())
    return (f"{REASON_NAMES_ZH.get(main, main)}: real-time timing on {good} of {len(counted)} days "
            f"(needs {settings.realtime_day_share:.0%}); other days: {detail}")


def _cameras(info: IntersectionInfo, days: Sequence[dt.date], rows: Mapping[dt.date, DayRecord],
             today: dt.date, settings: SignalSettings) -> str | None:
    if not info.camera_ids:
        return "无电子警察 no electronic-police camera is registered"
    failing: list[str] = []
    for cam in info.camera_ids:
        reported = [d for d in days if d in rows and rows[d].cameras_reported.get(cam, False)]
        counted = [d for d in days if d != today or d in reported]
        if not counted:
            failing.append(f"camera {cam} has not reported yet today" if days else
                           f"camera {cam}: no day in the period yet")
        elif len(reported) < settings.camera_report_share * len(counted):
            failing.append(f"camera {cam} reported on {len(reported)} of {len(counted)} days "
                           f"(needs {settings.camera_report_share:.0%})")
    if settings.epolice_all_cameras and failing:
        return "电子警察未正常上报: " + "; ".join(failing)
    if not settings.epolice_all_cameras and len(failing) == len(info.camera_ids):
        return "电子警察均未正常上报: " + "; ".join(failing)
    return None


def compute_ratios(intersections: Iterable[IntersectionInfo], records: Iterable[DayRecord],
                   date_from: dt.date, date_to: dt.date, settings: SignalSettings,
                   today: dt.date) -> SignalRatios:
    """Both ratios over the key intersections in service during [date_from, date_to]."""
    if date_to < date_from:
        raise ValueError(f"the period ends ({date_to}) before it starts ({date_from})")
    by_key: dict[str, dict[dt.date, DayRecord]] = {}
    for rec in records:
        by_key.setdefault(rec.intersection_id, {})[rec.day] = rec
    timing_num = camera_num = denominator = 0
    timing_short: list[Shortfall] = []
    camera_short: list[Shortfall] = []
    for info in sorted(intersections, key=lambda i: i.intersection_id):
        if not info.is_key:
            continue
        if info.in_service_from is not None and info.in_service_from > min(date_to, today):
            continue  # not in service during the period: not in the denominator
        days = _days(info, date_from, date_to, today)
        rows = by_key.get(info.intersection_id, {})
        denominator += 1
        why = _timing(info, days, rows, today, settings)
        if why is None:
            timing_num += 1
        else:
            timing_short.append(Shortfall(info.intersection_id, info.name, why))
        why = _cameras(info, days, rows, today, settings)
        if why is None:
            camera_num += 1
        else:
            camera_short.append(Shortfall(info.intersection_id, info.name, why))
    return SignalRatios(
        date_from, date_to,
        realtime_timing=Ratio(timing_num, denominator, tuple(timing_short)),
        epolice=Ratio(camera_num, denominator, tuple(camera_short)),
    )
