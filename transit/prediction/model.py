"""The travel-time model: stop-to-stop link times and dwell times, learned and blended.

A link is the time from a bus's arrival at one call to its arrival at the next (from its
departure, when the first is the first stop of the trip and the bus waits for its time there):
arrival to arrival, because that is what sparse GPS measures well.  Two fixes minutes apart show
when a bus passed a stop, not how long it stood there, so splitting that time into running and
dwelling would only move errors around.

TheTransitClock predicts a segment from the last vehicle's time on it and the same trip's times
on recent days, blended by a Kalman filter.  Here each stop-to-stop link (shared by every line
that runs it) gets:

1. **History**, per segment x day type x time-of-day band, from the recorded arrivals (loaded
   from PostgreSQL at start, then updated online from each arrival the tracker detects), as the
   ratio of the link time to the timetable's.  A cell with few observations is shrunk, with
   pseudo-counts, towards the network's ratio for that day type and band plus the segment's own
   habitual deviation from it: a segment seen twice moves a little from the timetable, a
   segment seen a hundred times stands on its own.
2. **Real-time evidence**: how much slower or faster than its history the segment ran for the
   vehicles that just crossed it, decayed with age (traffic now), blended by precision; where
   nobody ran a segment lately, how the whole network is running against its history now.
3. The schedule, when there is neither: such a prediction is labelled schedule-based.

Each estimate carries a variance (history spread, or a share of the link time when there is no
history) that the predictor accumulates into an uncertainty per call.  Dwell times, learned where
a fix saw the bus standing at a stop, only turn predicted arrivals into predicted departures.
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
    #: Link times are modelled as log((link + C) / (scheduled link + C)): relative to the
    #: timetable, so its own time-of-day variation carries through, and C keeps short segments
    #: (stops 100 m apart, a 20 s link) from making wild ratios.
    offset_s: float = 30.0
    #: Pseudo-counts pulling a (segment, day type, band) cell to its parent, a segment's own
    #: effect to zero, and the network-wide figure of a day type and band to the timetable.
    k_cell: float = 5.0
    k_segment: float = 5.0
    k_global: float = 30.0
    #: Real-time evidence loses weight as exp(-age / tau) ...
    recent_tau_s: float = 1500.0
    #: ... and counts against history with this pseudo-weight (per segment) ...
    recent_k: float = 1.0
    #: ... and, for segments nobody ran lately, the whole network's recent deviation counts.
    network_tau_s: float = 1800.0
    network_k: float = 20.0
    #: Spread of log link-time ratios with no history.
    prior_sigma: float = 0.30
    #: Observed ratios are clipped to exp(+-clip) (incidents, detours, detection errors).
    clip_log: float = 1.5


@dataclass(frozen=True, slots=True)
class LinkEstimate:
    mean_s: F64
    var_s2: F64
    #: True where history or real-time evidence for the segment went into the estimate.
    learned: NDArray[np.bool_]


class SegmentModel:
    """Mutable, owned by the tracker's writer task; readers never see it."""

    def __init__(self, net: TrackingNetwork, params: ModelParams = ModelParams()) -> None:
        self.net = net
        self.params = params
        n = max(1, net.n_segments)
        nd, nb = len(DAY_TYPES), N_BANDS
        self.cell_n = np.zeros((n, nd, nb))
        self.cell_q1 = np.zeros((n, nd, nb))
        self.cell_q2 = np.zeros((n, nd, nb))
        self.seg_n = np.zeros(n)
        self.seg_e1 = np.zeros(n)  # sum of (q - network figure at the time)
        self.glob_n = np.zeros((nd, nb))
        self.glob_q1 = np.zeros((nd, nb))
        self.recent_ts = np.full(n, -np.inf)
        self.recent_dev = np.zeros(n)
        self.recent_w = np.zeros(n)
        self.net_ts = -np.inf
        self.net_dev = 0.0
        self.net_w = 0.0
        n_stops = max(1, len(net.index.stop_ids))
        self.dwell_n = np.zeros((n_stops, nb))
        self.dwell_s1 = np.zeros((n_stops, nb))
        self.observations = 0

    # ------------------------------------------------------------------ learning
    def _q(self, run_s: F64, sched_s: F64) -> F64:
        c = self.params.offset_s
        q = np.log((np.maximum(run_s, 0.0) + c) / (np.maximum(sched_s, 0.0) + c))
        return np.clip(q, -self.params.clip_log, self.params.clip_log)

    def load_history(self, segment: I64, day_type: I64, band: I64, count: F64, mean_q: F64, std_q: F64) -> None:
        """Add aggregated history: per segment, day type and band, the count, mean and spread of
        log((link + C) / (scheduled link + C))."""
        ok = (segment >= 0) & (count > 0) & np.isfinite(mean_q)
        segment, day_type, band = segment[ok], day_type[ok], band[ok]
        count, mean_q = count[ok], np.clip(mean_q[ok], -self.params.clip_log, self.params.clip_log)
        std = np.nan_to_num(std_q[ok], nan=0.0)
        np.add.at(self.glob_n, (day_type, band), count)
        np.add.at(self.glob_q1, (day_type, band), count * mean_q)
        g = self._global(day_type, band)
        np.add.at(self.cell_n, (segment, day_type, band), count)
        np.add.at(self.cell_q1, (segment, day_type, band), count * mean_q)
        np.add.at(self.cell_q2, (segment, day_type, band), count * (std * std + mean_q * mean_q))
        np.add.at(self.seg_n, segment, count)
        np.add.at(self.seg_e1, segment, count * (mean_q - g))

    def load_dwell_history(self, stop: I64, band: I64, count: F64, mean_s: F64) -> None:
        ok = (stop >= 0) & (count > 0) & np.isfinite(mean_s)
        np.add.at(self.dwell_n, (stop[ok], band[ok]), count[ok])
        np.add.at(self.dwell_s1, (stop[ok], band[ok]), count[ok] * mean_s[ok])

    def observe_links(self, rows: I64, day_type: I64, run_s: F64, ts: F64) -> None:
        """Link times just observed: arrival at ``rows`` minus arrival at the previous call (its
        departure when that is the first stop of the trip)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        seg = self.net.row_segment[rows].astype(np.int64)
        ok = seg >= 0
        if not ok.all():
            rows, seg, day_type, run_s, ts = rows[ok], seg[ok], day_type[ok], run_s[ok], ts[ok]
        p = self.params
        band = self.net.row_band[rows].astype(np.int64)
        q = self._q(run_s, self.net.row_link_s[rows])
        expected, _, _ = self._history_q(rows, day_type)
        dev = q - expected
        g = self._global(day_type, band)
        np.add.at(self.glob_n, (day_type, band), 1.0)
        np.add.at(self.glob_q1, (day_type, band), q)
        np.add.at(self.cell_n, (seg, day_type, band), 1.0)
        np.add.at(self.cell_q1, (seg, day_type, band), q)
        np.add.at(self.cell_q2, (seg, day_type, band), q * q)
        np.add.at(self.seg_n, seg, 1.0)
        np.add.at(self.seg_e1, seg, q - g)
        # real-time evidence: decayed running means of (observed - history), per segment and
        # for the whole network, in time order
        for i in np.argsort(ts, kind="stable").tolist():
            s = seg[i]
            t = float(ts[i])
            w = self.recent_w[s] * np.exp(-max(0.0, t - self.recent_ts[s]) / p.recent_tau_s)
            self.recent_dev[s] = (self.recent_dev[s] * w + dev[i]) / (w + 1.0)
            self.recent_w[s] = w + 1.0
            self.recent_ts[s] = max(self.recent_ts[s], t)
            wn = self.net_w * np.exp(-max(0.0, t - self.net_ts) / p.network_tau_s)
            self.net_dev = (self.net_dev * wn + dev[i]) / (wn + 1.0)
            self.net_w = wn + 1.0
            self.net_ts = max(self.net_ts, t)
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
    def _global(self, day_type: I64, band: I64) -> F64:
        n = self.glob_n[day_type, band]
        return self.glob_q1[day_type, band] / (n + self.params.k_global)

    def _history_q(self, rows: I64, day_type: I64) -> tuple[F64, F64, F64]:
        """Mean and variance of the log ratio for each row from history, and the segment-specific
        weight behind it."""
        p = self.params
        net = self.net
        seg = net.row_segment[rows].astype(np.int64)
        segc = np.maximum(seg, 0)
        band = net.row_band[rows].astype(np.int64)
        has = seg >= 0
        g = self._global(day_type, band)
        sn = np.where(has, self.seg_n[segc], 0.0)
        seg_eff = np.where(has, self.seg_e1[segc], 0.0) / (sn + p.k_segment)
        parent = g + seg_eff
        cn = np.where(has, self.cell_n[segc, day_type, band], 0.0)
        c1 = np.where(has, self.cell_q1[segc, day_type, band], 0.0)
        c2 = np.where(has, self.cell_q2[segc, day_type, band], 0.0)
        mean = (c1 + p.k_cell * parent) / (cn + p.k_cell)
        c_mean = c1 / np.maximum(cn, 1e-9)
        c_var = np.where(cn > 1, c2 / np.maximum(cn, 1e-9) - c_mean * c_mean, 0.0)
        var = (cn * np.maximum(c_var, 0.0) + p.k_cell * p.prior_sigma**2) / (cn + p.k_cell)
        return mean, var, cn + sn

    def _history_mean(self, rows: I64, day_type: I64) -> F64:
        q, _, _ = self._history_q(rows, day_type)
        c = self.params.offset_s
        return (self.net.row_link_s[rows] + c) * np.exp(q) - c

    def expected_links(self, rows: I64, day_type: I64, now: float) -> LinkEstimate:
        """Link time to each of ``rows`` from the previous call, as of ``now``."""
        p = self.params
        q, var, weight = self._history_q(rows, day_type)
        seg = self.net.row_segment[rows].astype(np.int64)
        segc = np.maximum(seg, 0)
        age = np.maximum(0.0, now - self.recent_ts[segc])
        w = np.where(seg >= 0, self.recent_w[segc] * np.exp(-age / p.recent_tau_s), 0.0)
        share = w / (w + p.recent_k)
        wn = self.net_w * np.exp(-max(0.0, now - self.net_ts) / p.network_tau_s)
        net_share = wn / (wn + p.network_k)
        q = q + share * self.recent_dev[segc] + (1.0 - share) * net_share * self.net_dev
        var = var * (1.0 - 0.5 * share)
        c = p.offset_s
        base = np.maximum(self.net.row_link_s[rows], 0.0) + c
        mean = np.maximum(base * np.exp(q) - c, 0.0)
        var_s = (base * np.exp(q)) ** 2 * var
        return LinkEstimate(mean, var_s, (weight > 0) | (w > 0.05))

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
