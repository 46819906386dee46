"""One controller's day from what it reported, and whether that day had real-time signal timing.

Pure: numpy over a one-second grid of the local day, no I/O.  Two kinds of evidence feed it and
are merged (union of minutes, the larger of counts):

* status messages (GA/T 1049.2 style): a controller is *online* while it is heard (a message
  within ``status_stale_s``) and its latest CrossState is Online (a controller that never sent a
  CrossState counts as Online while heard); its mode is the latest CrossModePlan; cycles are the
  CrossCycle reports.
* Indiana events: the controller is online in the minutes it logged anything, and across gaps of
  at most ``event_gap_s``; a quarter hour with gap-outs or max-outs (4, 5) or cycle/split changes
  (132, 134-149) ran a real-time (actuated or adaptive) mode; flash is 173 with a parameter other than
  2 (not flash) or pattern 255; cycles are green-to-green intervals of the reference phase (phase
  2, or the phase with the most greens); plans are the 131 pattern changes.

All minute figures and counts are within the operating hours; for today the operating hours end
at ``now`` and the day is *partial*.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from signals import codes as ec
from signals.modes import (
    CATEGORY_NAMES_ZH,
    FAILURE_CATEGORIES,
    GAT1049_MODES,
    REALTIME_CATEGORIES,
    ModeCategory,
)
from signals.status import StatusMessage
from transit.settings import SignalSettings

#: Width of the bins in which Indiana events show a real-time mode.
ACTUATION_BIN_S = 900
#: Green-to-green intervals longer than this are gaps in the log, not cycles.
MAX_CYCLE_S = 600.0

_CATEGORIES = list(ModeCategory)
_CAT_INDEX = {c: i for i, c in enumerate(_CATEGORIES)}
_UNKNOWN = _CAT_INDEX[ModeCategory.UNKNOWN]

# Why a day does not count; the reports show the Chinese name first.
REASON_NAMES_ZH = {
    "no_controller": "未登记信号机",
    "no_data": "无信号机数据",
    "offline": "信号机离线",
    "flash": "黄闪或关灯",
    "not_realtime_mode": "非实时控制方式",
    "not_responding": "配时未随流量变化",
    "not_started": "运营时段未开始",
}

_REALTIME_KEYS = {c.value for c in REALTIME_CATEGORIES} | {"realtime_from_events"}
_FLASH_KEYS = {c.value for c in FAILURE_CATEGORIES} | {"flash_from_events"}
_MODE_LABELS = {c.value: f"{CATEGORY_NAMES_ZH[c]} {c.value}" for c in ModeCategory} | {
    "not_actuated_from_events": "无感应动作 no actuation in the event log",
}


@dataclass(frozen=True, slots=True)
class DayWindow:
    day: dt.date
    day_start: float
    day_end: float
    op_start: float
    op_end: float
    partial: bool

    @property
    def operating_min(self) -> float:
        return max(0.0, self.op_end - self.op_start) / 60.0


def _hhmm(text: str) -> dt.time | None:
    hours, minutes = (int(p) for p in text.split(":"))
    return None if hours >= 24 else dt.time(hours, minutes)


def day_window(day: dt.date, tz: str, settings: SignalSettings, now: float) -> DayWindow:
    zone = zoneinfo.ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(0), zone).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).timestamp()
    op_s, op_e = _hhmm(settings.operating_start), _hhmm(settings.operating_end)
    op_start = dt.datetime.combine(day, op_s, zone).timestamp() if op_s else end
    op_end = dt.datetime.combine(day, op_e, zone).timestamp() if op_e else end
    op_end = max(op_start, op_end)
    partial = now < end
    if partial:
        op_end = max(op_start, min(op_end, now))
    return DayWindow(day, start, end, op_start, op_end, partial)


@dataclass(frozen=True, slots=True)
class EventInput:
    """Indiana events of one controller for one day: the individual events of ``codes.LOG_CODES``
    (plus the last 131 and 173 before the day, which set the state it starts in), the minutes of
    the day in which anything at all was logged, and the day's total count."""

    ts: np.ndarray  # float64 POSIX seconds, sorted
    code: np.ndarray  # int16
    param: np.ndarray  # int32
    active_minutes: np.ndarray  # int, minute of the day (0 = midnight) with at least one event
    total: int

    @staticmethod
    def empty() -> EventInput:
        return EventInput(np.zeros(0), np.zeros(0, np.int16), np.zeros(0, np.int32), np.zeros(0, np.int64), 0)


@dataclass(frozen=True, slots=True)
class ControllerDay:
    controller_id: str
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
    realtime: bool
    reason_code: str | None
    reason: str | None
    evidence: list[str] = field(default_factory=list)
    partial: bool = False


def _step(grid: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Index of the latest ``ts`` at or before each grid second (-1: none)."""
    return np.searchsorted(ts, grid, side="right") - 1


def _status_timelines(win: DayWindow, msgs: Sequence[StatusMessage], grid: np.ndarray,
                      settings: SignalSettings) -> tuple[np.ndarray, np.ndarray]:
    """(online, mode category index) per grid second, from status messages."""
    online = np.zeros(len(grid), dtype=bool)
    cats = np.full(len(grid), _UNKNOWN, dtype=np.int16)
    if not msgs:
        return online, cats
    ordered = sorted(msgs, key=lambda m: m.ts)
    heard_ts = np.array([m.ts for m in ordered])
    idx = _step(grid, heard_ts)
    heard = (idx >= 0) & (grid - heard_ts[np.maximum(idx, 0)] < settings.status_stale_s)
    states = [m for m in ordered if m.kind == "state"]
    if states:
        s_ts = np.array([m.ts for m in states])
        s_ok = np.array([m.state == "Online" for m in states])
        s_idx = _step(grid, s_ts)
        state_ok = np.where(s_idx >= 0, s_ok[np.maximum(s_idx, 0)], True)
    else:
        state_ok = np.ones(len(grid), dtype=bool)
    online = heard & state_ok
    modes = [m for m in ordered if m.kind == "mode" and m.mode in GAT1049_MODES]
    if modes:
        m_ts = np.array([m.ts for m in modes])
        m_cat = np.array([_CAT_INDEX[GAT1049_MODES[m.mode].category] for m in modes], dtype=np.int16)  # type: ignore[index]
        m_idx = _step(grid, m_ts)
        cats = np.where(m_idx >= 0, m_cat[np.maximum(m_idx, 0)], _UNKNOWN).astype(np.int16)
    return online, cats


def _event_timelines(win: DayWindow, ev: EventInput, grid: np.ndarray,
                     settings: SignalSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(online, real-time mode, flash) per grid second, from Indiana events."""
    n = len(grid)
    online = np.zeros(n, dtype=bool)
    minutes = np.unique(ev.active_minutes)
    if len(minutes):
        starts = minutes * 60 + round(win.day_start - win.op_start)  # grid index of each minute
        ends = starts + 60
        gaps = starts[1:] - ends[:-1]
        bridge = gaps <= settings.event_gap_s
        # spans: each active minute, plus the gap after it when short enough
        span_end = ends.copy()
        span_end[:-1] = np.where(bridge, starts[1:], ends[:-1])
        delta = np.zeros(n + 1, dtype=np.int32)
        np.add.at(delta, np.clip(starts, 0, n), 1)
        np.add.at(delta, np.clip(np.maximum(span_end, starts), 0, n), -1)
        online = np.cumsum(delta[:-1]) > 0
    offset = grid - win.day_start
    # flash: 173 (param != 2) and pattern 255 switch it on; 173 = 2 and any other pattern off
    is_flash_evt = ev.code == ec.UNIT_FLASH_STATUS
    is_pattern = ev.code == ec.COORD_PATTERN_CHANGE
    f_mask = is_flash_evt | is_pattern
    flash = np.zeros(n, dtype=bool)
    if f_mask.any():
        f_ts = ev.ts[f_mask]
        f_on = np.where(is_flash_evt[f_mask], ev.param[f_mask] != ec.FLASH_STATUS_NOT_FLASH,
                        ev.param[f_mask] == ec.PATTERN_FLASH)
        f_idx = _step(grid, f_ts)
        flash = (f_idx >= 0) & f_on[np.maximum(f_idx, 0)]
    actuation = (ev.code == ec.PHASE_GAP_OUT) | (ev.code == ec.PHASE_MAX_OUT) | (
        (ev.code >= ec.CYCLE_LENGTH_CHANGE) & (ev.code <= ec.SPLIT_CHANGE_LAST) & (ev.code != 133))
    in_day = (ev.ts >= win.day_start) & (ev.ts < win.day_end)
    n_bins = math.ceil((win.day_end - win.day_start) / ACTUATION_BIN_S) + 1
    bins = np.zeros(n_bins, dtype=bool)
    hit = ((ev.ts[actuation & in_day] - win.day_start) // ACTUATION_BIN_S).astype(np.int64)
    bins[np.clip(hit, 0, n_bins - 1)] = True
    realtime = online & bins[(offset // ACTUATION_BIN_S).astype(np.int64)] & ~flash
    return online, realtime, flash & online


def _cycles_from_events(ev: EventInput, lo: float, hi: float, min_cycles: int) -> np.ndarray:
    greens = (ev.code == ec.PHASE_BEGIN_GREEN) & (ev.ts >= lo) & (ev.ts < hi)
    if not greens.any():
        return np.zeros(0)
    phases, counts = np.unique(ev.param[greens], return_counts=True)
    by_phase = dict(zip(phases.tolist(), counts.tolist(), strict=True))
    ref = 2 if by_phase.get(2, 0) >= min_cycles else int(phases[np.argmax(counts)])
    ts = ev.ts[greens & (ev.param == ref)]
    lengths = np.diff(ts)
    return lengths[(lengths > 0) & (lengths <= MAX_CYCLE_S)]


def _local_clock(ts: float, tz: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")


def _plans(win: DayWindow, msgs: Sequence[StatusMessage], ev: EventInput,
           tz: zoneinfo.ZoneInfo) -> tuple[int, list[dict[str, object]]]:
    """Plan (or mode) transitions inside the operating hours, as (count, [{at, plan, mode}])."""
    lo, hi = win.op_start, win.op_end
    status_changes: list[dict[str, object]] = []
    prev: tuple[object, object] | None = None
    for m in sorted((m for m in msgs if m.kind == "mode"), key=lambda m: m.ts):
        key = (m.mode, m.plan_no)
        if key != prev and prev is not None and lo <= m.ts < hi:
            status_changes.append({"at": _local_clock(m.ts, tz), "plan": m.plan_no, "mode": m.mode})
        prev = key
    event_changes: list[dict[str, object]] = []
    pattern = ev.code == ec.COORD_PATTERN_CHANGE
    last: int | None = None
    for ts, plan in zip(ev.ts[pattern].tolist(), ev.param[pattern].tolist(), strict=True):
        if plan != last and last is not None and lo <= ts < hi:
            event_changes.append({"at": _local_clock(ts, tz), "plan": plan})
        last = plan
    best = event_changes if len(event_changes) >= len(status_changes) else status_changes
    return len(best), best


def _minutes(mask: np.ndarray) -> float:
    return round(float(mask.sum()) / 60.0, 2)


def compute_controller_day(controller_id: str, win: DayWindow, msgs: Sequence[StatusMessage],
                           ev: EventInput, settings: SignalSettings, tz: str) -> ControllerDay:
    """The day's figures and verdict for one controller (see the module docstring)."""
    zone = zoneinfo.ZoneInfo(tz)
    grid = np.arange(win.op_start, win.op_end, 1.0) if win.op_end > win.op_start else np.zeros(0)
    s_online, s_cats = _status_timelines(win, msgs, grid, settings)
    e_online, e_realtime, e_flash = _event_timelines(win, ev, grid, settings)
    realtime_cat = np.isin(s_cats, [_CAT_INDEX[c] for c in REALTIME_CATEGORIES])
    failure_cat = np.isin(s_cats, [_CAT_INDEX[c] for c in FAILURE_CATEGORIES])
    flash = (s_online & failure_cat) | e_flash
    online = s_online | e_online
    realtime = ((s_online & realtime_cat) | e_realtime) & ~flash
    mode_min: dict[str, float] = {}
    for cat in _CATEGORIES:
        minutes = _minutes(s_online & (s_cats == _CAT_INDEX[cat]))
        if minutes:
            mode_min[cat.value] = minutes
    only_events = e_online & ~s_online
    for key, mask in (("realtime_from_events", e_realtime), ("flash_from_events", e_flash),
                      ("not_actuated_from_events", ~e_realtime & ~e_flash)):
        minutes = _minutes(only_events & mask)
        if minutes:
            mode_min[key] = minutes

    lo, hi = win.op_start, win.op_end
    status_cycles = np.array([m.cycle_len_s for m in msgs
                              if m.kind == "cycle" and lo <= m.ts < hi and m.cycle_len_s])
    event_cycles = _cycles_from_events(ev, lo, hi, settings.min_cycles)
    lengths = status_cycles if len(status_cycles) >= len(event_cycles) else event_cycles
    cyc_mean = cyc_std = cyc_min = cyc_max = cyc_cv = None
    if len(lengths):
        cyc_mean = round(float(lengths.mean()), 2)
        cyc_std = round(float(lengths.std()), 2)
        cyc_min, cyc_max = round(float(lengths.min()), 2), round(float(lengths.max()), 2)
        cyc_cv = round(cyc_std / cyc_mean, 4) if cyc_mean else None
    plan_changes, plans = _plans(win, msgs, ev, zone)
    in_op = (ev.ts >= lo) & (ev.ts < hi)
    cycle_changes = int((in_op & (ev.code == ec.CYCLE_LENGTH_CHANGE)).sum())
    split_changes = int((in_op & (ev.code >= ec.SPLIT_CHANGE_FIRST) & (ev.code <= ec.SPLIT_CHANGE_LAST)).sum())
    gap_outs = int((in_op & (ev.code == ec.PHASE_GAP_OUT)).sum())
    max_outs = int((in_op & (ev.code == ec.PHASE_MAX_OUT)).sum())
    n_status = sum(1 for m in msgs if win.day_start <= m.ts < win.day_end)

    evidence: list[str] = []
    if len(lengths) >= settings.min_cycles and cyc_cv is not None and cyc_cv >= settings.min_cycle_cv:
        evidence.append(f"cycle lengths varied: CV {cyc_cv:.3f} over {len(lengths)} cycles "
                        f"({cyc_min:g}-{cyc_max:g} s)")
    if cycle_changes:
        evidence.append(f"{cycle_changes} cycle-length changes (132)")
    if split_changes:
        evidence.append(f"{split_changes} split changes (134-149)")
    if plan_changes >= settings.min_plan_changes:
        evidence.append(f"{plan_changes} plan changes")
    if gap_outs:
        evidence.append(f"{gap_outs} gap-outs: phases ended when demand ended")

    op_min = win.operating_min
    online_min, realtime_min, flash_min = _minutes(online), _minutes(realtime), _minutes(flash)
    reason_code: str | None = None
    reason: str | None = None
    if op_min <= 0:
        reason_code, reason = "not_started", "the operating hours have not started"
    elif not n_status and not ev.total:
        reason_code, reason = "no_data", "no status messages or event logs from the controller"
    elif online_min < settings.online_share * op_min:
        reason_code = "offline"
        reason = (f"online {online_min:.0f} of {op_min:.0f} operating min "
                  f"({online_min / op_min:.0%}, needs {settings.online_share:.0%})")
    elif realtime_min < settings.realtime_mode_share * op_min:
        others = {k: v for k, v in mode_min.items() if k not in _REALTIME_KEYS}
        top = max(others, key=others.__getitem__) if others else ModeCategory.UNKNOWN.value
        if top in _FLASH_KEYS:
            reason_code = "flash"
            reason = (f"in flash or lamps off {flash_min:.0f} of {op_min:.0f} operating min; "
                      f"real-time mode {realtime_min:.0f} min (needs {settings.realtime_mode_share:.0%})")
        else:
            reason_code = "not_realtime_mode"
            reason = (f"real-time mode {realtime_min:.0f} of {op_min:.0f} operating min "
                      f"(needs {settings.realtime_mode_share:.0%}); mostly {_MODE_LABELS.get(top, top)}"
                      + (f" {others[top]:.0f} min" if others else ""))
    elif not evidence:
        reason_code = "not_responding"
        spread = f"CV {cyc_cv:.3f} over {len(lengths)} cycles" if cyc_cv is not None else "no cycles observed"
        reason = f"timing did not respond: cycle lengths steady ({spread}), no split, cycle or plan changes"
    return ControllerDay(
        controller_id=controller_id, day=win.day, operating_min=round(op_min, 2),
        online_min=online_min, realtime_min=realtime_min, flash_min=flash_min, mode_min=mode_min,
        cycles=len(lengths), cycle_mean_s=cyc_mean, cycle_std_s=cyc_std, cycle_min_s=cyc_min,
        cycle_max_s=cyc_max, cycle_cv=cyc_cv, plan_changes=plan_changes, plans=plans,
        cycle_length_changes=cycle_changes, split_changes=split_changes, gap_outs=gap_outs,
        max_outs=max_outs, events=int(ev.total), status_messages=n_status,
        realtime=reason_code is None, reason_code=reason_code, reason=reason, evidence=evidence,
        partial=win.partial,
    )
