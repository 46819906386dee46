"""Intersections: the real-time signal-timing and electronic-police coverage the controllers' and
cameras' own data show (issue 7).

Data in: Indiana high-resolution event logs, GA/T 1049.2-style status messages (GB/T 20999 running
modes mapped onto them), camera heartbeats and capture counts.  Out: the coverage log per
intersection per day and the two ratios over key intersections (``signals.coverage.ratios``).
"""

from signals.coverage import (
    ControllerDay,
    DayRecord,
    IntersectionDay,
    IntersectionInfo,
    Ratio,
    Shortfall,
    SignalRatios,
    compute_controller_day,
    compute_ratios,
    ratios,
)
from signals.indiana import EventLogError, ParsedEvents, parse_event_log
from signals.intersections import Intersection, parse_intersections_csv
from signals.modes import ControlMode, ModeCategory, parse_gat1049_mode, parse_gb20999_mode
from signals.status import StatusMessage, decode_status

__all__ = [
    "ControlMode", "ControllerDay", "DayRecord", "EventLogError", "Intersection", "IntersectionDay",
    "IntersectionInfo", "ModeCategory", "ParsedEvents", "Ratio", "Shortfall", "SignalRatios", "StatusMessage",
    "compute_controller_day", "compute_ratios", "decode_status", "parse_event_log", "parse_gat1049_mode",
    "parse_gb20999_mode", "parse_intersections_csv", "ratios",
]
