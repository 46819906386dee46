"""The transport bureau's indicators (Shandong new-smart-city star rating: 2, 7, 8, 30).

Pure arithmetic lives in ``indicators*``, ``line_service``, ``urban``, ``period``, ``report``,
``geo`` and ``formats``; ``inputs`` and ``urban_store`` read PostgreSQL and the other packages;
``http`` and ``command`` are the entry points.
"""

from transit.reports.definitions import DEFINITIONS, Definition
from transit.reports.indicators import Indicator, NotCounted, Rating, Target
from transit.reports.indicators_payment import Boardings, electronic_payment_rate
from transit.reports.indicators_signals import electronic_police, signal_timing
from transit.reports.indicators_transit import (
    BoardUptime,
    LineService,
    StopArea,
    board_coverage,
    realtime_prediction_rate,
)
from transit.reports.line_service import count_line_service
from transit.reports.period import Period, PeriodError, parse_period
from transit.reports.report import Report, ReportInputs, ReportRules, build_report
from transit.reports.urban import Boundary, BoundaryError, classify_stops, parse_boundary

__all__ = [
    "DEFINITIONS", "BoardUptime", "Boardings", "Boundary", "BoundaryError", "Definition", "Indicator", "LineService",
    "NotCounted", "Period", "PeriodError", "Rating", "Report", "ReportInputs", "ReportRules", "StopArea", "Target",
    "board_coverage", "build_report", "classify_stops", "count_line_service", "electronic_payment_rate",
    "electronic_police", "parse_boundary", "parse_period", "realtime_prediction_rate", "signal_timing",
]
