"""Indicator 2: real-time arrival prediction rate (2a) and electronic stop board coverage (2b).

Both count what actually worked, not what is installed: a line counts when predictions were
served for its trips, a stop when a board serving it was online.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from transit.reports.definitions import BOARD_COVERAGE, REALTIME_PREDICTION
from transit.reports.indicators import Indicator, NotCounted


def exact_share(share: float) -> Fraction:
    """0.9 as 9/10, not as the binary float nearest to it."""
    return Fraction(str(share))


@dataclass(frozen=True, slots=True)
class LineService:
    """One line's scheduled and real-time-served trip instances over the period."""

    route_id: str
    name: str
    scheduled: int
    served: int
    days_scheduled: int = 0
    days_served: int = 0

    @property
    def share(self) -> float | None:
        return self.served / self.scheduled if self.scheduled else None


def realtime_prediction_rate(lines: Sequence[LineService], trip_share: float, recorded: bool = True) -> Indicator:
    """Lines with real-time predictions served for at least ``trip_share`` of their scheduled
    trips, over every line of the active feed.  ``recorded`` is False when the service has no
    record at all of the period (it was not running): then there is no figure, not a zero."""
    need = exact_share(trip_share)
    counted = 0
    missing: list[NotCounted] = []
    table: list[dict[str, Any]] = []
    for line in lines:
        ok = line.scheduled > 0 and Fraction(line.served, line.scheduled) >= need
        counted += ok
        figures = {"scheduled_trips": line.scheduled, "served_trips": line.served, "share": line.share,
                   "days_scheduled": line.days_scheduled, "days_served": line.days_served}
        table.append({"route_id": line.route_id, "name": line.name, **figures, "counts": ok})
        if ok:
            continue
        if line.scheduled == 0:
            reason = "本期无计划班次 no trips scheduled in the period"
        elif line.served == 0:
            reason = (f"未提供实时预报 no real-time predictions served for any of its {line.scheduled} "
                      f"scheduled trips")
        else:
            reason = (f"实时预报班次不足 real-time predictions for {line.served} of {line.scheduled} scheduled "
                      f"trips ({line.share:.1%}, needs {float(need):.0%}), on {line.days_served} of "
                      f"{line.days_scheduled} service days")
        missing.append(NotCounted("line", line.route_id, line.name, reason, figures))
    missing.sort(key=lambda n: (n.figures["share"] or 0.0, n.id))
    notes: tuple[str, ...] = (f"A line counts when real-time predictions were served for at least {float(need):.0%} of its "
             f"scheduled trips in the period.",)
    if not lines:
        notes += ("没有生效的GTFS数据 no active GTFS feed: there are no lines to count.",)
    if not recorded:
        notes += ("本期无实时预报记录 the service has no record of serving predictions in this period "
                  "(it was not running, or the tracker recorded nothing).",)
    return replace(REALTIME_PREDICTION.template(), numerator=counted, denominator=len(lines),
                   not_counted=tuple(missing), tables={"lines": table}, notes=notes, available=recorded)


@dataclass(frozen=True, slots=True)
class StopArea:
    """A stop of the active feed and whether it is urban (and by which rule)."""

    stop_id: str
    name: str
    urban: bool
    why: str = "boundary"  # "boundary", "flag", "all" (no boundary configured), "outside", "flag_out"
    lat: float = 0.0
    lon: float = 0.0


@dataclass(frozen=True, slots=True)
class BoardUptime:
    board_id: str
    stop_ids: tuple[str, ...]
    #: Share of the period the board was online; None when there is no record of it at all.
    online_share: float | None
    location: str = ""


@dataclass(frozen=True)
class StopCoverage:
    stop: StopArea
    boards: tuple[BoardUptime, ...] = field(default=())
    covered: bool = False

    @property
    def state(self) -> str:
        if not self.stop.urban:
            return "not_urban"
        if self.covered:
            return "covered"
        return "board_offline" if self.boards else "no_board"

    @property
    def best_share(self) -> float | None:
        shares = [b.online_share for b in self.boards if b.online_share is not None]
        return max(shares) if shares else None


def stop_coverage(stops: Sequence[StopArea], boards: Sequence[BoardUptime], online_share: float
                  ) -> list[StopCoverage]:
    need = exact_share(online_share)
    by_stop: dict[str, list[BoardUptime]] = {}
    for board in boards:
        for stop_id in board.stop_ids:
            by_stop.setdefault(stop_id, []).append(board)
    out = []
    for stop in stops:
        at = tuple(sorted(by_stop.get(stop.stop_id, ()), key=lambda b: b.board_id))
        working = any(b.online_share is not None and Fraction(b.online_share).limit_denominator(10**6) >= need
                      for b in at)
        out.append(StopCoverage(stop, at, stop.urban and working))
    return out


def _share_text(share: float | None) -> str:
    return "never seen online" if share is None else f"online {share:.1%} of the period"


def board_coverage(stops: Sequence[StopArea], boards: Sequence[BoardUptime], online_share: float,
                   registered: bool = True) -> Indicator:
    """Urban stops with at least one board online for ``online_share`` of the period, over all
    urban stops.  ``registered`` is False when boards exist but none was registered yet during
    the period: there is no figure for a time before the boards were recorded."""
    need = exact_share(online_share)
    coverage = stop_coverage(stops, boards, online_share)
    urban = [c for c in coverage if c.stop.urban]
    known = {s.stop_id: s for s in stops}
    missing: list[NotCounted] = []
    for board in sorted(boards, key=lambda b: b.board_id):
        unknown = [s for s in board.stop_ids if s not in known]
        outside = [s for s in board.stop_ids if s in known and not known[s].urban]
        inside = [s for s in board.stop_ids if s in known and known[s].urban]
        if inside:
            continue
        if outside:
            reason = (f"站点不在城区 serves only stops outside the urban area "
                      f"({', '.join(f'{s} {known[s].name}' for s in outside)})")
        elif unknown:
            reason = f"站点不在当前线网 serves stops not in the active feed ({', '.join(unknown)})"
        else:
            reason = "未关联站点 serves no stop"
        missing.append(NotCounted("board", board.board_id, board.location, reason,
                                  {"online_share": board.online_share, "stop_ids": list(board.stop_ids)}))
    offline = [c for c in urban if c.boards and not c.covered]
    for c in sorted(offline, key=lambda c: (c.best_share or 0.0, c.stop.stop_id)):
        detail = "; ".join(f"{b.board_id} {_share_text(b.online_share)}" for b in c.boards)
        missing.append(NotCounted(
            "stop", c.stop.stop_id, c.stop.name,
            f"电子站牌在线不足 board not working: {detail} (needs {float(need):.0%})",
            {"boards": [b.board_id for b in c.boards], "online_share": c.best_share}))
    for c in urban:
        if not c.boards:
            missing.append(NotCounted("stop", c.stop.stop_id, c.stop.name, "无电子站牌 no board at this stop",
                                      {"boards": [], "online_share": None}))
    table = [{"stop_id": c.stop.stop_id, "name": c.stop.name, "urban": c.stop.urban, "urban_rule": c.stop.why,
              "state": c.state, "boards": [b.board_id for b in c.boards], "online_share": c.best_share}
             for c in coverage if c.stop.urban or c.boards]
    notes = [f"A stop counts when a board serving it was online at least {float(need):.0%} of the period."]
    if any(s.why == "all" for s in stops):
        notes.append("未配置城区范围 no urban boundary or urban flags configured: every stop of the feed is "
                     "counted as urban (set reports.urban_boundary or flag stops).")
    if not registered:
        notes.append("本期尚无站牌登记 no board was registered yet during this period.")
    return replace(BOARD_COVERAGE.template(), numerator=sum(c.covered for c in urban), denominator=len(urban),
                   not_counted=tuple(missing), tables={"stops": table}, notes=tuple(notes), available=registered)
