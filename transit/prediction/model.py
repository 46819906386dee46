"""The travel-time model: segment running times and dwell times, learned and blended.

TheTransitClock predicts a segment from the last vehicle's time on it and the same trip's times
on recent days, blended by a Kalman filter.  Here each stop-to-stop segment (shared by every line
that runs it) gets:

1. **History**, per segment x day type x time-of-day band, from the recorded arrivals (loaded
   from PostgreSQL at start, then updated online from each arrival the tracker detects).  A
   cell with few observations is shrunk towards the segment's all-day figure, and that towards
   the schedule, with pseudo-counts: a segment seen twice moves a little from the timetable, a
   segment seen a hundred times stands on its own.
2. **Real-time evidence**: how much slower or faster than its history the segment ran for the
   vehicles that just crossed it, decayed with age (traffic now), blended by precision.
3. The schedule, when there is neither: such a prediction is labelled schedule-based.

Each estimate carries a variance (history spread, or a share of the running time when there is
no history) that the predictor accumulates into an uncertainty per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from transit.tracking.network import N_BANDS, TrackingNetwork

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

DAY_TYPES = ("weekday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class ModelParams:
    #: Pseudo-count with which a (segment, day type, band) cell is pulled to its segment figure.
    k_cell: float = 6.0
    #: Pseudo-count with which a segment's figure is pulled to the schedule.
    k_segment: float = 3.0
    #: Real-time evidence loses weight as exp(-age / tau).
    recent_tau_s: float = 1500.0
    #: Weight of history against one fresh real-time observation.
    recent_k: float = 0.7
    #: Spread of a running time with no history, as a share of it (plus a floor).
    default_cv: float = 0.35
    default_sigma_floor_s: float = 20.0
    #: Observed running times are clipped to this range around the expected one (incidents,
    #: detours and detection errors must not poison the model).
    clip_low: float = 0.25
    clip_high: float = 4.0
    clip_abs_s: float = 300.0


@dataclass(frozen=True, slots=True)
class RunEstimate:
    mean_s: F64
    var_s2: F64
    #: True where history or real-time evidence went into the estimate (not schedule alone).
    learned: NDArray[np.bool_]


class SegmentModel:
    """Mutable, owned by the tracker's writer task; readers never see it."""

    def __init__(self, net: TrackingNetwork, params: ModelParams = ModelParams()) -> None:
        self.net = net
        self.params = params
        n = max(1, net.n_segments)
        shape = (n, len(DAY_TYPES), N_BANDS)
        self.cell_n = np.zeros(shape)
        self.cell_s1 = np.zeros(shape)
        self.cell_s2 = np.zeros(shape)
        self.seg_n = np.zeros(n)
        self.seg_s1 = np.zeros(n)
        self.seg_s2 = np.zeros(n)
        self.recent_ts = np.full(n, -np.inf)
        self.recent_dev = np.zeros(n)
        self.recent_w = np.zeros(n)
        n_stops = max(1, len(net.index.stop_ids))
        self.dwell_n = np.zeros((n_stops, N_BANDS))
        self.dwell_s1 = np.zeros((n_stops, N_BANDS))
        self.observations = 0

    # ------------------------------------------------------------------ learning
    def load_history(
        self, segment: I64, day_type: I64, band: I64, count: F64, mean_s: F64, std_s: F64
    ) -> None:
        """Add aggregated history (one row per segment, day type and band)."""
        ok = (segment >= 0) & (count > 0) & np.isfinite(mean_s)
        segment, day_type, band = segment[ok], day_type[ok], band[ok]
        count, mean_s = count[ok], mean_s[ok]
        std = np.nan_to_num(std_s[ok], nan=0.0)
        s1 = count * mean_s
        s2 = count * (std * std + mean_s * mean_s)
        np.add.at(self.cell_n, (segment, day_type, band), count)
        np.add.at(self.cell_s1, (segment, day_type, band), s1)
        np.add.at(self.cell_s2, (segment, day_type, band), s2)
        np.add.at(self.seg_n, segment, count)
        np.add.at(self.seg_s1, segment, s1)
        np.add.at(self.seg_s2, segment, s2)

    def load_dwell_history(self, stop: I64, band: I64, count: F64, mean_s: F64) -> None:
        ok = (stop >= 0) & (count > 0) & np.isfinite(mean_s)
        np.add.at(self.dwell_n, (stop[ok], band[ok]), count[ok])
        np.add.at(self.dwell_s1, (stop[ok], band[ok]), count[ok] * mean_s[ok])

    def observe_runs(self, rows: I64, day_type: I64, run_s: F64, ts: F64) -> None:
        """Running times just observed (departure from the previous call to arrival at ``rows``)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        seg = self.net.row_segment[rows].astype(np.int64)
        ok = seg >= 0
        if not ok.all():
            rows, seg, day_type, run_s, ts = rows[ok], seg[ok], day_type[ok], run_s[ok], ts[ok]
        base = self._history_mean(rows, day_type)
        p = self.params
        run = np.clip(run_s, np.maximum(0.0, base * p.clip_low - 30.0), base * p.clip_high + p.clip_abs_s)
        band = self.net.row_band[rows].astype(np.int64)
        np.add.at(self.cell_n, (seg, day_type, band), 1.0)
        np.add.at(self.cell_s1, (seg, day_type, band), run)
        np.add.at(self.cell_s2, (seg, day_type, band), run * run)
        np.add.at(self.seg_n, seg, 1.0)
        np.add.at(self.seg_s1, seg, run)
        np.add.at(self.seg_s2, seg, run * run)
        # real-time evidence: decayed running mean of (observed - history), in time order
        dev = run - base
        for i in np.argsort(ts, kind="stable"):
            s = seg[i]
            w = self.recent_w[s] * np.exp(-max(0.0, ts[i] - self.recent_ts[s]) / p.recent_tau_s)
            self.recent_dev[s] = (self.recent_dev[s] * w + dev[i]) / (w + 1.0)
            self.recent_w[s] = w + 1.0
            self.recent_ts[s] = max(self.recent_ts[s], ts[i])
        self.observations += len(rows)

    def observe_dwells(self, rows: I64, dwell_s: F64) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        stop = self.net.index.st_stop[rows].astype(np.int64)
        band = self.net.row_band[rows].astype(np.int64)
        d = np.clip(dwell_s, 0.0, 600.0)
        np.add.at(self.dwell_n, (stop, band), 1.0)
        np.add.at(self.dwell_s1, (stop, band), d)

    # ------------------------------------------------------------------ estimates
    def _history_mean(self, rows: I64, day_type: I64) -> F64:
        mean, _, _ = self._history(rows, day_type)
        return mean

    def _history(self, rows: I64, day_type: I64) -> tuple[F64, F64, F64]:
        """Shrunk history mean and variance of the running time to each row, and its weight."""
        p = self.params
        net = self.net
        seg = net.row_segment[rows].astype(np.int64)
        segc = np.maximum(seg, 0)
        band = net.row_band[rows].astype(np.int64)
        sched = net.row_run_s[rows]
        sn = np.where(seg >= 0, self.seg_n[segc], 0.0)
        s_mean = np.where(sn > 0, self.seg_s1[segc] / np.maximum(sn, 1e-9), sched)
        s_var = np.where(sn > 1, self.seg_s2[segc] / np.maximum(sn, 1e-9) - s_mean * s_mean, 0.0)
        seg_mean = (sn * s_mean + p.k_segment * sched) / (sn + p.k_segment)
        cn = np.where(seg >= 0, self.cell_n[segc, day_type, band], 0.0)
        c_mean = np.where(cn > 0, self.cell_s1[segc, day_type, band] / np.maximum(cn, 1e-9), seg_mean)
        c_var = np.where(cn > 1, self.cell_s2[segc, day_type, band] / np.maximum(cn, 1e-9) - c_mean * c_mean,
                         0.0)
        mean = (cn * c_mean + p.k_cell * seg_mean) / (cn + p.k_cell)
        prior_var = (p.default_cv * np.maximum(mean, 0.0) + p.default_sigma_floor_s) ** 2
        seg_var = (sn * np.maximum(s_var, 0.0) + p.k_segment * prior_var) / (sn + p.k_segment)
        var = (cn * np.maximum(c_var, 0.0) + p.k_cell * seg_var) / (cn + p.k_cell)
        return mean, var, cn + sn

    def expected_runs(self, rows: I64, day_type: I64, now: float) -> RunEstimate:
        """Running time to each of ``rows`` from the previous call, as of ``now``."""
        p = self.params
        mean, var, weight = self._history(rows, day_type)
        seg = self.net.row_segment[rows].astype(np.int64)
        segc = np.maximum(seg, 0)
        age = np.maximum(0.0, now - self.recent_ts[segc])
        w = np.where(seg >= 0, self.recent_w[segc] * np.exp(-age / p.recent_tau_s), 0.0)
        share = w / (w + p.recent_k)
        mean = np.maximum(mean + share * self.recent_dev[segc], 0.2 * mean)
        var = var * (1.0 - 0.5 * share)
        return RunEstimate(mean, var, (weight > 0) | (w > 0.05))

    def expected_dwells(self, rows: I64) -> F64:
        net = self.net
        stop = net.index.st_stop[rows].astype(np.int64)
        band = net.row_band[rows].astype(np.int64)
        n = self.dwell_n[stop, band]
        sched = net.row_dwell_s[rows]
        return (self.dwell_s1[stop, band] + 3.0 * sched) / (n + 3.0)

    def statistics(self) -> dict[str, float]:
        return {
            "segments": float(self.net.n_segments),
            "segments_with_history": float(np.count_nonzero(self.seg_n)),
            "observations": float(self.observations),
        }
