"""The tracker and its accuracy monitor, driven together: what the live writer task and
``transit evaluate`` both run, so that the figures an operator sees and the figures a replay
prints come from the same code.  Pure: ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transit.core.fix import Fix
from transit.core.snapshot import Snapshot
from transit.prediction.monitor import AccuracyMonitor
from transit.schedule.index import ScheduleIndex
from transit.tracking.arrivals import ArrivalEvent
from transit.tracking.outputs import KEY_SPAN, PredictionsMade
from transit.tracking.tracker import BatchResult, Tracker, TrackerParams

#: How often open accuracy samples are matched with arrivals.
SCORE_EVERY_S = 60.0


@dataclass
class Engine:
    tracker: Tracker
    monitor: AccuracyMonitor
    _last_score: float = float("-inf")

    @staticmethod
    def create(index: ScheduleIndex, params: TrackerParams | None = None,
               sample_interval_s: float = 60.0) -> Engine:
        return Engine(Tracker(index, params or TrackerParams()), AccuracyMonitor(index.route_ids, sample_interval_s))

    def set_schedule(self, index: ScheduleIndex, now: float | None = None) -> None:
        self.monitor.set_routes(index.route_ids)
        self.tracker.set_schedule(index, now)

    def apply(self, fixes: Sequence[Fix], now: float) -> BatchResult:
        result = self.tracker.apply(fixes, now)
        if result.events:
            self.observe(result.events)
        if result.predictions is not None:
            self.sample(result.predictions, now)
        if now - self._last_score >= SCORE_EVERY_S:
            self._last_score = now
            scored = self.monitor.score(now)
            if scored is not None and scored.fresh.any():
                f = scored.fresh  # calibration learns from predictions made at a fix
                self.tracker.outputs.calibrator.observe(
                    scored.model_ts[f] - scored.made_ts[f], scored.model_ts[f], scored.scheduled_ts[f],
                    scored.actual_ts[f], scored.model_sigma_s[f], scored.call_state[f])
        return result

    def observe(self, events: Sequence[ArrivalEvent]) -> None:
        first = self.tracker.net.row_first
        keys = np.fromiter((e.serial * KEY_SPAN + (e.row - int(first[e.row])) for e in events), dtype=np.int64,
                           count=len(events))
        arr = np.fromiter((e.arrival_ts if e.method != "first_stop" else np.nan for e in events),
                          dtype=np.float64, count=len(events))
        self.monitor.observe(keys, arr)

    def sample(self, made: PredictionsMade, now: float) -> None:
        ix = self.tracker.index
        days = self.tracker.outputs.serial_day[made.serial]
        self.monitor.sample(made.vehicle_ids, made.vehicle, made.keys, made.arrival_ts,
                            ix.trip_route[made.trip].astype(np.int64), days, now, made.model_ts,
                            made.model_sigma_s, made.scheduled_ts, made.fresh[made.vehicle],
                            made.call_state)

    def snapshot(self, version: int, created_ts: float) -> Snapshot:
        return self.tracker.snapshot(version, created_ts)
