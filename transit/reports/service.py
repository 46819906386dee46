"""Producing reports, monthly trends and the coverage map for the HTTP API and the CLI.

Finished months do not change much (fare batches can still arrive late), so their trend values
are kept for a few minutes; the current month is always computed afresh.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from transit.reports.geo import map_json
from transit.reports.indicators_transit import stop_coverage
from transit.reports.inputs import ReportSource, board_uptimes, gather_inputs, urban_stops
from transit.reports.period import Period, month_bounds, previous_months
from transit.reports.report import Report, TrendPoint, build_report, trend_json

TREND_CACHE_S = 600.0


@dataclass
class ReportService:
    _trend_cache: dict[tuple[str, int | None], tuple[float, TrendPoint]] = field(default_factory=dict)
    reports_made: int = 0
    last_report_s: float = 0.0
    #: Seconds each part of the last report took (served trips, boards, signals, fares, ...).
    last_timings: dict[str, float] = field(default_factory=dict)

    async def report(self, source: ReportSource, period: Period) -> Report:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        inputs = await gather_inputs(source, period, timings)
        computed = time.perf_counter()
        report = build_report(period, inputs, source.rules)
        timings["indicators"] = time.perf_counter() - computed
        self.reports_made += 1
        self.last_report_s = time.perf_counter() - started
        self.last_timings = timings
        return report

    async def trend(self, source: ReportSource, last_month: dt.date, months: int, now: float) -> dict[str, Any]:
        points: list[TrendPoint] = []
        template: Report | None = None
        feed_id = source.index.feed_id if source.index is not None else None
        tz = source.settings.timezone
        for first, last in previous_months(last_month, months):
            period = Period(first, last, tz, "month", now)
            if period.from_ts > now:
                continue
            key = (f"{first:%Y-%m}", feed_id)
            cached = self._trend_cache.get(key)
            if cached is not None and period.complete and time.monotonic() - cached[0] < TREND_CACHE_S:
                points.append(cached[1])
                continue
            report = await self.report(source, period)
            template = template or report
            point = TrendPoint(f"{first:%Y-%m}", {i.ident: i.value for i in report.indicators}, period.complete)
            if period.complete:
                self._trend_cache[key] = (time.monotonic(), point)
            points.append(point)
        if template is None:  # every month came from the cache: the series still need their targets
            first, last = month_bounds(last_month.year, last_month.month)
            template = build_report(Period(first, last, tz, "month", now), _empty_inputs(), source.rules)
        return trend_json(points, template.indicators)

    async def coverage_map(self, source: ReportSource, period: Period) -> dict[str, Any]:
        stops, boundary, origin = await urban_stops(source)
        boards, missing = await board_uptimes(source.pool, period)
        coverage = stop_coverage(stops, boards or [], source.settings.reports.board_online_share)
        data = map_json(source.index, coverage, boundary, origin)
        data["period"] = period.as_json()
        data["boards_available"] = boards is not None
        data["boards_missing"] = missing
        return data

    def statistics(self) -> dict[str, Any]:
        return {"reports_made": self.reports_made, "last_report_s": round(self.last_report_s, 4),
                "last_timings_s": {k: round(v, 4) for k, v in self.last_timings.items()},
                "trend_months_cached": len(self._trend_cache)}


def _empty_inputs() -> Any:
    from transit.reports.report import ReportInputs

    return ReportInputs()
