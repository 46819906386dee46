"""The signal and electronic-police coverage the bureau reports, for any period.

``ratios(pool, date_from, date_to, settings)`` is the stable entry point for the reports: it
brings the coverage log up to date (pending recomputations, today's rows) and returns
:class:`SignalRatios` with ``.realtime_timing`` and ``.epolice``, each with ``numerator``,
``denominator``, ``value`` and ``not_counted`` — ``(intersection_id, name, reason)`` tuples.
The arithmetic is :func:`compute_ratios`, a pure function over plain inputs; the definitions are
in ``signals/coverage_day.py`` (a controller's day), ``signals/coverage_intersection.py`` (an
intersection's day) and ``signals/coverage_ratios.py`` (a period).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from signals.coverage_day import (
    REASON_NAMES_ZH,
    ControllerDay,
    DayWindow,
    EventInput,
    compute_controller_day,
    day_window,
)
from signals.coverage_intersection import (
    CameraDay,
    IntersectionDay,
    camera_reported,
    combine_intersection_day,
)
from signals.coverage_ratios import (
    DayRecord,
    IntersectionInfo,
    Ratio,
    Shortfall,
    SignalRatios,
    compute_ratios,
)
from transit.settings import Settings

__all__ = [
    "REASON_NAMES_ZH", "CameraDay", "ControllerDay", "DayRecord", "DayWindow", "EventInput", "IntersectionDay",
    "IntersectionInfo", "Ratio", "Shortfall", "SignalRatios", "camera_reported", "combine_intersection_day",
    "compute_controller_day", "compute_ratios", "day_window", "ratios",
]


async def ratios(pool: Any, date_from: dt.date, date_to: dt.date, settings: Settings, *,
                 now: float | None = None, refresh: bool = True) -> SignalRatios:
    """Both ratios over the key intersections for [date_from, date_to] (local dates, inclusive).

    ``settings`` is the service's :class:`~transit.settings.Settings` (time zone and the
    ``signals`` thresholds); ``now`` defaults to the wall clock.
    """
    from signals.log_store import list_day_records
    from signals.recompute import process_dirty, refresh_recent, today
    from signals.registry import list_intersections

    now = time.time() if now is None else now
    if refresh:
        await process_dirty(pool, settings, now, date_from=date_from, date_to=date_to)
        if date_from <= today(settings, now) <= date_to:
            await refresh_recent(pool, settings, now, max_age_s=300.0)
    items = await list_intersections(pool, key_only=True)
    infos = [IntersectionInfo(i.intersection_id, i.name, i.is_key, i.in_service_from, i.controller_ids,
                              i.camera_ids) for i in items]
    records = await list_day_records(pool, date_from, date_to)
    return compute_ratios(infos, records, date_from, date_to, settings.signals, today(settings, now))
