"""Replaying recorded AVL through the real engine on a simulated clock, and scoring it.

The fixes are applied in time order in windows of ``batch_s`` seconds, ``now`` being the end of
each window, exactly as the live writer applies its batches.  Every prediction the engine makes
is kept (not sampled), with what a schedule-only service and a delay-propagating one (the
timetable shifted by the vehicle's current delay, as OneBusAway does) would have said for the
same call at the same moment; every arrival it detects is the actual the three are scored
against.  Formats of the two CSV files: docs/evaluate.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from transit.core.fix import Fix
from transit.prediction.accuracy import AccuracyTable, summarize
from transit.schedule.index import ScheduleIndex
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.engine import Engine
from transit.tracking.outputs import KEY_SPAN, PredictionsMade
from transit.tracking.tracker import TrackerParams

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

MODES = ("given", "route", "none")


def strip_fixes(fixes: Sequence[Fix], mode: str) -> list[Fix]:
    """What the replayed fixes keep of their assignment: everything (given), the line only
    (route: like JT/T 808 buses) or nothing (none)."""
    if mode == "given":
        return list(fixes)
    if mode == "route":
        return [replace(f, trip_id=None, block_id=None, start_date=None, start_time=None) for f in fixes]
    if mode == "none":
        return [replace(f, trip_id=None, block_id=None, route_id=None, start_date=None, start_time=None)
                for f in fixes]
    raise ValueError(f"mode must be one of {', '.join(MODES)}")


@dataclass
class _Made:
    ts: list[F64] = field(default_factory=list)
    vehicle: list[list[str]] = field(default_factory=list)
    key: list[I64] = field(default_factory=list)
    trip: list[I64] = field(default_factory=list)
    row: list[I64] = field(default_factory=list)
    day: list[I64] = field(default_factory=list)
    offset: list[I64] = field(default_factory=list)
    predicted: list[F64] = field(default_factory=list)
    scheduled: list[F64] = field(default_factory=list)
    propagated: list[F64] = field(default_factory=list)
    schedule_based: list[NDArray[np.bool_]] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    index: ScheduleIndex
    predictions: int
    arrivals: list[ArrivalEvent]
    scored: int
    model: AccuracyTable
    schedule: AccuracyTable
    propagated: AccuracyTable
    fixes: int
    vehicles: int
    # arrays of every prediction (for the CSV)
    made_ts: F64
    vehicle_id: NDArray[np.object_]
    trip: I64
    row: I64
    day: I64
    offset: I64
    predicted_ts: F64
    scheduled_ts: F64
    propagated_ts: F64
    schedule_based: NDArray[np.bool_]


def replay(
    index: ScheduleIndex, fixes: Sequence[Fix], params: TrackerParams | None = None, batch_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> Evaluation:
    """Run ``fixes`` (any order) through a fresh engine and score every prediction it made."""
    ordered = sorted(fixes, key=lambda f: f.ts)
    engine = Engine.create(index, params or TrackerParams(), sample_interval_s=60.0)
    tracker = engine.tracker
    made = _Made()
    events: list[ArrivalEvent] = []
    i = 0
    n = len(ordered)
    while i < n:
        end = ordered[i].ts + batch_s
        j = i
        while j < n and ordered[j].ts < end:
            j += 1
        now = ordered[j - 1].ts
        result = engine.apply(ordered[i:j], now)
        events.extend(result.events)
        p = result.predictions
        if p is not None:
            p = _fresh_only(p)
        if p is not None and len(p.row):
            first_rows = tracker.net.row_first[p.row]
            sched = index.st_arr_s[p.row] + p.shift_ts
            heads = np.flatnonzero(np.r_[True, p.vehicle[1:] != p.vehicle[:-1]])
            delay_now = np.zeros(len(p.vehicle_ids))
            delay_now[p.vehicle[heads]] = p.arrival_ts[heads] - sched[heads]
            serial_day = tracker.outputs.serial_day
            made.ts.append(p.fix_ts[p.vehicle])
            made.vehicle.append([p.vehicle_ids[k] for k in p.vehicle.tolist()])
            made.key.append(p.serial * KEY_SPAN + (p.row - first_rows))
            made.trip.append(p.trip)
            made.row.append(p.row)
            made.day.append(serial_day[p.serial])
            made.offset.append(np.round(p.shift_ts - _day_starts(index, serial_day[p.serial])).astype(np.int64))
            made.predicted.append(p.arrival_ts)
            made.scheduled.append(sched)
            made.propagated.append(sched + delay_now[p.vehicle])
            made.schedule_based.append(p.schedule_based)
        if progress is not None:
            progress(j / n)
        i = j
    cat = _concat(made)
    first = tracker.net.row_first
    act_keys = np.array([e.serial * KEY_SPAN + (e.row - int(first[e.row])) for e in events
                         if e.method != "first_stop" and not math.isnan(e.arrival_ts)], dtype=np.int64)
    act_ts = np.array([e.arrival_ts for e in events if e.method != "first_stop" and not math.isnan(e.arrival_ts)])
    order = np.argsort(act_keys, kind="stable")
    act_keys, act_ts = act_keys[order], act_ts[order]
    key = cat["key"]
    if len(act_keys) and len(key):
        pos = np.clip(np.searchsorted(act_keys, key), 0, len(act_keys) - 1)
        hit = act_keys[pos] == key
        actual = np.where(hit, act_ts[pos], np.nan)
    else:
        hit = np.zeros(len(key), dtype=bool)
        actual = np.full(len(key), np.nan)
    horizon = cat["predicted"] - cat["ts"]
    routes = np.array(index.route_ids, dtype=object)[index.trip_route[cat["trip"]]] if len(key) else np.zeros(0, dtype=object)
    ok = hit & (actual >= cat["ts"])  # the call had not been made when predicted
    return Evaluation(
        index=index, predictions=len(key), arrivals=events, scored=int(ok.sum()),
        model=summarize(horizon[ok], actual[ok] - cat["predicted"][ok], routes[ok]),
        schedule=summarize(horizon[ok], actual[ok] - cat["scheduled"][ok], routes[ok]),
        propagated=summarize(horizon[ok], actual[ok] - cat["propagated"][ok], routes[ok]),
        fixes=n, vehicles=len({f.vehicle_id for f in ordered}),
        made_ts=cat["ts"], vehicle_id=cat["vehicle"], trip=cat["trip"], row=cat["row"], day=cat["day"],
        offset=cat["offset"], predicted_ts=cat["predicted"], scheduled_ts=cat["scheduled"],
        propagated_ts=cat["propagated"],
        schedule_based=cat["schedule_based"],
    )


def _fresh_only(p: PredictionsMade) -> PredictionsMade | None:
    """Predictions made at a fix (not the re-predictions of vehicles that did not report)."""
    if p.fresh.all():
        return p
    keep_v = np.flatnonzero(p.fresh)
    if len(keep_v) == 0:
        return None
    new_index = np.full(len(p.fresh), -1, dtype=np.int64)
    new_index[keep_v] = np.arange(len(keep_v))
    keep = p.fresh[p.vehicle]
    return PredictionsMade(
        vehicle_ids=[p.vehicle_ids[k] for k in keep_v.tolist()], fix_ts=p.fix_ts[keep_v],
        fresh=p.fresh[keep_v], vehicle=new_index[p.vehicle[keep]], serial=p.serial[keep], row=p.row[keep],
        trip=p.trip[keep], shift_ts=p.shift_ts[keep], arrival_ts=p.arrival_ts[keep],
        departure_ts=p.departure_ts[keep], sigma_s=p.sigma_s[keep], schedule_based=p.schedule_based[keep],
        position=p.position[keep], model_ts=p.model_ts[keep], model_sigma_s=p.model_sigma_s[keep],
        scheduled_ts=p.scheduled_ts[keep], call_state=p.call_state[keep],
    )


def _day_starts(index: ScheduleIndex, ordinals: I64) -> F64:
    uniq, inv = np.unique(ordinals, return_inverse=True)
    starts = np.array([index.day_start(dt.date.fromordinal(int(o))) for o in uniq])
    return starts[inv] if len(uniq) else np.zeros(0)


def _concat(made: _Made) -> dict[str, np.ndarray]:
    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return {
        "ts": cat(made.ts, np.float64), "key": cat(made.key, np.int64), "trip": cat(made.trip, np.int64),
        "row": cat(made.row, np.int64), "day": cat(made.day, np.int64), "offset": cat(made.offset, np.int64),
        "predicted": cat(made.predicted, np.float64), "scheduled": cat(made.scheduled, np.float64),
        "propagated": cat(made.propagated, np.float64), "schedule_based": cat(made.schedule_based, np.bool_),
        "vehicle": np.array([v for part in made.vehicle for v in part], dtype=object),
    }


# ---------------------------------------------------------------------- files
def _iso(ts: float, tz: zoneinfo.ZoneInfo) -> str:
    if ts is None or math.isnan(ts):
        return ""
    return dt.datetime.fromtimestamp(round(ts), tz).isoformat()


PREDICTION_COLUMNS = ("avl_time", "vehicle_id", "trip_id", "stop_id", "stop_sequence", "predicted_arrival",
                      "horizon_s", "schedule_based", "service_date", "start_time", "scheduled_arrival")
ARRIVAL_COLUMNS = ("vehicle_id", "service_date", "trip_id", "start_time", "route_id", "stop_id", "stop_sequence",
                   "arrival_time", "departure_time", "scheduled_arrival", "scheduled_departure", "method")


def write_predictions(ev: Evaluation, path: Path) -> None:
    ix = ev.index
    tz = ix.tz
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(PREDICTION_COLUMNS)
        iso_cache: dict[int, str] = {}

        def iso(ts: float) -> str:
            k = round(ts)
            s = iso_cache.get(k)
            if s is None:
                if len(iso_cache) > 200_000:
                    iso_cache.clear()
                s = iso_cache[k] = _iso(ts, tz)
            return s

        for k in range(len(ev.trip)):
            trip = int(ev.trip[k])
            row = int(ev.row[k])
            start_time = ""
            if ix.is_frequency_trip(trip):
                secs = int(ix.trip_first_dep_s[trip]) + int(ev.offset[k])
                start_time = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
            w.writerow((
                iso(ev.made_ts[k]), ev.vehicle_id[k], ix.trip_ids[trip], ix.stop_ids[ix.st_stop[row]],
                int(ix.st_seq[row]), iso(ev.predicted_ts[k]), round(float(ev.predicted_ts[k] - ev.made_ts[k])),
                "true" if ev.schedule_based[k] else "false",
                dt.date.fromordinal(int(ev.day[k])).strftime("%Y%m%d"), start_time, iso(ev.scheduled_ts[k]),
            ))


def write_arrivals(ev: Evaluation, path: Path) -> None:
    tz = ev.index.tz
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ARRIVAL_COLUMNS)
        for e in sorted(ev.arrivals, key=lambda e: (e.arrival_ts if not math.isnan(e.arrival_ts)
                                                    else e.departure_ts)):
            w.writerow((e.vehicle_id, e.service_date.strftime("%Y%m%d"), e.trip_id, e.start_time, e.route_id,
                        e.stop_id, e.stop_sequence, _iso(e.arrival_ts, tz), _iso(e.departure_ts, tz),
                        _iso(e.scheduled_arrival_ts, tz), _iso(e.scheduled_departure_ts, tz), e.method))


def improvement_lines(ev: Evaluation) -> list[str]:
    """Per bucket: how much lower the model's MAE is than each baseline's."""
    out = []
    for m, s, p in zip(ev.model.overall, ev.schedule.overall, ev.propagated.overall, strict=True):
        if not m.n or not s.mae_s or not p.mae_s or m.mae_s is None:
            out.append(f"{m.bucket} min: no predictions scored")
            continue
        out.append(f"{m.bucket:>5} min: MAE {100 * (1 - m.mae_s / s.mae_s):5.1f}% lower than schedule-only, "
                   f"{100 * (1 - m.mae_s / p.mae_s):5.1f}% lower than delay propagation; "
                   f"inside window {100 * (m.within_share or 0):.1f}% (schedule-only "
                   f"{100 * (s.within_share or 0):.1f}%)")
    return out
