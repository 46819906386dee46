"""An intersection's row of the coverage log: its controllers' days combined, and whether each of
its electronic-police cameras reported.

Pure, like ``coverage_day``: the adapters load the inputs and store the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from signals.coverage_day import ControllerDay, DayWindow
from transit.settings import SignalSettings


@dataclass(frozen=True, slots=True)
class CameraDay:
    camera_id: str
    heartbeats: int = 0
    captures: int | None = None


def camera_reported(cam: CameraDay | None, settings: SignalSettings) -> bool:
    """A camera reported on a day when it sent a heartbeat or a capture count of at least
    ``camera_min_captures``."""
    if cam is None:
        return False
    return cam.heartbeats > 0 or (cam.captures is not None and cam.captures >= settings.camera_min_captures)


@dataclass(frozen=True, slots=True)
class IntersectionDay:
    """One row of the coverage log."""

    intersection_id: str
    day: dt.date
    operating_min: float
    online_min: float
    realtime_min: float
    flash_min: float
    mode_min: dict[str, float]
    cycles: int
    cycle_mean_s: float | None
    cycle_std_s: float | None
    cycle_min_s: float | None
    cycle_max_s: float | None
    cycle_cv: float | None
    plan_changes: int
    plans: list[dict[str, object]]
    cycle_length_changes: int
    split_changes: int
    gap_outs: int
    max_outs: int
    events: int
    status_messages: int
    cameras: dict[str, dict[str, object]]
    realtime: bool
    reason_code: str | None
    reason: str | None
    evidence: list[str]
    controllers: dict[str, dict[str, object]]
    partial: bool


def _controller_summary(cd: ControllerDay) -> dict[str, object]:
    return {"online_min": cd.online_min, "realtime_min": cd.realtime_min, "flash_min": cd.flash_min,
            "cycles": cd.cycles, "cycle_cv": cd.cycle_cv, "plan_changes": cd.plan_changes,
            "events": cd.events, "status_messages": cd.status_messages, "realtime": cd.realtime,
            "reason_code": cd.reason_code, "reason": cd.reason}


def combine_intersection_day(intersection_id: str, win: DayWindow, controller_days: Sequence[ControllerDay],
                             cameras: Sequence[str], camera_days: dict[str, CameraDay],
                             settings: SignalSettings) -> IntersectionDay:
    """The intersection's row: real-time only when every controller of it was; the weakest
    controller's minutes; counts summed; each camera's report."""
    cams: dict[str, dict[str, object]] = {}
    for cam in cameras:
        found = camera_days.get(cam)
        cams[cam] = {"reported": camera_reported(found, settings),
                     "heartbeats": found.heartbeats if found else 0,
                     "captures": found.captures if found else None}
    if not controller_days:
        return IntersectionDay(
            intersection_id, win.day, round(win.operating_min, 2), 0.0, 0.0, 0.0, {}, 0, None, None, None,
            None, None, 0, [], 0, 0, 0, 0, 0, 0, cams, False, "no_controller",
            "no signal controller is registered for the intersection", [], {}, win.partial)
    failing = [cd for cd in controller_days if not cd.realtime]
    primary = failing[0] if failing else controller_days[0]
    most_cycles = max(controller_days, key=lambda cd: cd.cycles)
    several = len(controller_days) > 1
    evidence = [f"{cd.controller_id}: {e}" if several else e for cd in controller_days for e in cd.evidence]
    return IntersectionDay(
        intersection_id=intersection_id, day=win.day, operating_min=primary.operating_min,
        online_min=min(cd.online_min for cd in controller_days),
        realtime_min=min(cd.realtime_min for cd in controller_days),
        flash_min=max(cd.flash_min for cd in controller_days),
        mode_min=primary.mode_min, cycles=most_cycles.cycles, cycle_mean_s=most_cycles.cycle_mean_s,
        cycle_std_s=most_cycles.cycle_std_s, cycle_min_s=most_cycles.cycle_min_s,
        cycle_max_s=most_cycles.cycle_max_s, cycle_cv=most_cycles.cycle_cv,
        plan_changes=sum(cd.plan_changes for cd in controller_days), plans=primary.plans,
        cycle_length_changes=sum(cd.cycle_length_changes for cd in controller_days),
        split_changes=sum(cd.split_changes for cd in controller_days),
        gap_outs=sum(cd.gap_outs for cd in controller_days), max_outs=sum(cd.max_outs for cd in controller_days),
        events=sum(cd.events for cd in controller_days),
        status_messages=sum(cd.status_messages for cd in controller_days),
        cameras=cams, realtime=not failing, reason_code=primary.reason_code,
        reason=(f"controller {primary.controller_id}: {primary.reason}" if several and primary.reason
                else primary.reason),
        evidence=evidence, controllers={cd.controller_id: _controller_summary(cd) for cd in controller_days},
        partial=win.partial,
    )
