"""The bureau's report: every indicator for one period, computed from plain inputs.

The adapter (``inputs.py``) reads the logs; everything here is arithmetic over what it read,
so a test can build the inputs of a month by hand and check each figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transit.reports.definitions import BOARD_COVERAGE, DEFINITIONS, RATED_NAMES
from transit.reports.indicators import Indicator, Rating, rate, unavailable
from transit.reports.indicators_payment import Boardings, electronic_payment_rate
from transit.reports.indicators_signals import electronic_police, signal_timing
from transit.reports.indicators_transit import (
    BoardUptime,
    LineService,
    StopArea,
    board_coverage,
    realtime_prediction_rate,
)
from transit.reports.period import Period


@dataclass(frozen=True)
class ReportInputs:
    lines: Sequence[LineService] = ()
    stops: Sequence[StopArea] = ()
    #: None: the board registry is not part of this deployment (the reason is in boards_missing).
    boards: Sequence[BoardUptime] | None = None
    boards_missing: str = ""
    #: False: boards exist, but none was registered during the period.
    boards_registered: bool = True
    #: False: served_trips holds nothing at all for the period (the service was not running).
    served_recorded: bool = True
    signal_timing: Any | None = None
    epolice: Any | None = None
    signals_missing: str = ""
    boardings: Sequence[Boardings] = ()
    route_names: Mapping[str, str] = field(default_factory=dict)
    short_names: Mapping[str, str] = field(default_factory=dict)
    feed: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ReportRules:
    realtime_trip_share: float = 0.9
    board_online_share: float = 0.9
    electronic_channels: Collection[str] = ("tunion_card", "local_card", "unionpay_nfc", "unionpay_qr",
                                            "alipay", "wechat", "mot_qr")


@dataclass(frozen=True)
class Report:
    period: Period
    indicators: tuple[Indicator, ...]
    ratings: tuple[Rating, ...]
    feed: Mapping[str, Any] | None
    rules: ReportRules

    def get(self, ident: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.ident == ident or indicator.key == ident:
                return indicator
        raise KeyError(ident)

    def as_json(self) -> dict[str, Any]:
        tz = self.period.tz
        return {
            "title_zh": "新型智慧城市星级评价 交通指标报告", "title_en": "Smart-city star rating: transport indicators",
            "period": self.period.as_json(),
            "generated_at": dt.datetime.fromtimestamp(self.period.now, tz).isoformat(),
            "feed": dict(self.feed) if self.feed else None,
            "rules": {"realtime_trip_share": self.rules.realtime_trip_share,
                      "board_online_share": self.rules.board_online_share,
                      "electronic_channels": sorted(self.rules.electronic_channels)},
            "ratings": [r.as_json() for r in self.ratings],
            "indicators": [i.as_json() for i in self.indicators],
            "definitions": {f"{d.number}{d.part}": {"formula_zh": d.formula_zh, "formula_en": d.formula_en,
                                                    "measured_en": d.measured_en} for d in DEFINITIONS},
        }


def build_report(period: Period, inputs: ReportInputs, rules: ReportRules) -> Report:
    prediction = realtime_prediction_rate(inputs.lines, rules.realtime_trip_share, inputs.served_recorded)
    if inputs.boards is None:
        boards = unavailable(BOARD_COVERAGE.template(), inputs.boards_missing or "no board registry")
    else:
        boards = board_coverage(inputs.stops, inputs.boards, rules.board_online_share, inputs.boards_registered)
    indicators: tuple[Indicator, ...] = (
        prediction,
        boards,
        signal_timing(inputs.signal_timing, inputs.signals_missing),
        electronic_payment_rate(inputs.boardings, rules.electronic_channels, inputs.route_names,
                                inputs.short_names),
        electronic_police(inputs.epolice, inputs.signals_missing),
    )
    if not period.complete:
        note = (f"本期尚未结束 the period is not over: measured until "
                f"{dt.datetime.fromtimestamp(period.measured_to_ts, period.tz):%Y-%m-%d %H:%M}")
        indicators = tuple(_with_note(i, note) for i in indicators)
    return Report(period, indicators, tuple(rate(indicators, RATED_NAMES)), inputs.feed, rules)


def _with_note(indicator: Indicator, note: str) -> Indicator:
    from dataclasses import replace

    return replace(indicator, notes=(*indicator.notes, note))


@dataclass(frozen=True, slots=True)
class TrendPoint:
    month: str  # YYYY-MM
    values: Mapping[str, float | None]  # indicator id -> value
    complete: bool


def trend_json(points: Sequence[TrendPoint], indicators: Sequence[Indicator]) -> dict[str, Any]:
    """Monthly values per indicator, with each indicator's targets for drawing threshold lines."""
    return {
        "months": [p.month for p in points],
        "complete": [p.complete for p in points],
        "series": [{"id": i.ident, "name_zh": i.name_zh, "name_en": i.name_en,
                    "four_star": i.four_star.as_json(), "five_star": i.five_star.as_json(),
                    "values": [p.values.get(i.ident) for p in points]} for i in indicators],
    }
