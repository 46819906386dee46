"""Online calibration of predictions against what actually happened: the last layer of the model.

The link model says where a bus will be if it keeps running like buses on those links; a bus
twenty minutes out will also catch up on schedule slack or wait at timepoints, and the arrivals
the service detects have their own small systematic offsets.  So each scored prediction (from
the accuracy monitor: model output, timetable, actual) feeds, per horizon bin, per side
(predicted earlier or later than the timetable) and per call state (the next call or a later
one; the bus moving or standing still at its fix), a decayed least-squares fit of

    actual - model = a + w x (timetable - model)

and new predictions become ``model + a + w (timetable - model)``: a learned, horizon-dependent
pull towards the timetable (w in [0, 1]) plus a bias.  Where timetables mean nothing, w stays near
0.  The same bins learn how large the errors are against the model's own uncertainty, which
rescales every uncertainty served.  Pure, and learning only from the past (as ``transit evaluate``
replays, too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

#: Horizon bins (seconds); the last runs to infinity.
EDGES = np.array([0, 60, 120, 180, 240, 300, 360, 480, 600, 720, 900, 1200, 1500, 1800, 2700, 3600, np.inf])
N_BINS = len(EDGES) - 1
HIST_EDGES = np.arange(-600.0, 600.1, 5.0)
#: Timetable minus model: well behind, a little behind, a little ahead, well ahead of schedule.
SIDE_EDGES = np.array([-300.0, 0.0, 300.0])
N_SIDES = len(SIDE_EDGES) + 1
#: Per call: is it the first call ahead of the vehicle (the partial link from where it is, which
#: behaves apart from the calls after it), and was the vehicle standing still at its fix (a bus
#: held at a light or a stop arrives later than one moving: about 25 s on Capital Metro)?
N_STATES = 4
#: Reported speeds below this are a vehicle standing still.
STANDING_MPS = 0.5


def call_states(next_call: NDArray[np.bool_], standing: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The calibration state of each call (0..N_STATES-1)."""
    return np.asarray(next_call, dtype=np.int64) + 2 * np.asarray(standing, dtype=np.int64)


@dataclass
class CalibrationParams:
    #: Weight of old observations halves after this many new ones in the same cell.
    half_life: float = 20_000.0
    #: Observations before a cell's fit counts fully (pseudo-count towards "no correction").
    prior_n: float = 50.0
    ridge: float = 1e-6
    max_bias_s: float = 120.0


@dataclass
class Calibrator:
    params: CalibrationParams = field(default_factory=CalibrationParams)
    #: Decayed sums per (bin, side, call state): n, x, y, xx, xy, z2 (z = error / sigma),
    #: |residual|.
    sums: F64 = field(default_factory=lambda: np.zeros((N_BINS, N_SIDES, N_STATES, 7)))
    #: Decayed histograms of the residual after the pull to the timetable, per cell: the bias
    #: applied is their median (robust to the long tail of buses held up far beyond any model).
    hist: F64 = field(default_factory=lambda: np.zeros((N_BINS * N_SIDES * N_STATES, len(HIST_EDGES) - 1)))
    observations: int = 0

    def cells(self, horizon_s: F64, model_ts: F64, scheduled_ts: F64, state: NDArray[np.int64]) -> NDArray[np.int64]:
        b = np.clip(np.searchsorted(EDGES, np.maximum(horizon_s, 0.0), side="right") - 1, 0, N_BINS - 1)
        side = np.searchsorted(SIDE_EDGES, scheduled_ts - model_ts, side="right")
        return (b * N_SIDES + side) * N_STATES + np.asarray(state, dtype=np.int64)

    def observe(
        self, horizon_s: F64, model_ts: F64, scheduled_ts: F64, actual_ts: F64, sigma_s: F64,
        state: NDArray[np.int64],
    ) -> None:
        """Scored predictions, with the state of each call (:func:`call_states`; a boolean array
        reads as "the next call", the vehicle moving)."""
        ok = np.isfinite(actual_ts) & np.isfinite(model_ts) & np.isfinite(scheduled_ts)
        if not ok.any():
            return
        c = self.cells(horizon_s[ok], model_ts[ok], scheduled_ts[ok], np.asarray(state)[ok])
        x = (scheduled_ts - model_ts)[ok]
        y = (actual_ts - model_ts)[ok]
        # robust: a residual far beyond the cell's usual size (a bus that broke down, a layover
        # the model did not know of) counts only as far as that size
        a, w, _ = self._fit()
        flat = self.sums.reshape(-1, 7)
        n = flat[:, 0]
        usual = np.where(n > 30, flat[:, 6] / np.maximum(n, 1e-9), 120.0)
        fitted = a[c] + w[c] * x
        resid = y - fitted
        limit = np.maximum(45.0, 2.5 * usual[c])
        y_robust = fitted + np.clip(resid, -limit, limit)
        z = np.clip(resid, -limit, limit) / np.maximum(sigma_s[ok], 1.0)  # error left after calibration
        counts = np.bincount(c, minlength=flat.shape[0]).astype(np.float64)
        flat *= (0.5 ** (counts / self.params.half_life))[:, None]
        for k, vals in enumerate((np.ones_like(x), x, y_robust, x * x, x * y_robust, z * z, np.abs(resid))):
            flat[:, k] += np.bincount(c, weights=vals, minlength=flat.shape[0])
        self.hist *= (0.5 ** (counts / self.params.half_life))[:, None]
        hb = np.clip(np.searchsorted(HIST_EDGES, y - w[c] * x, side="right") - 1, 0, len(HIST_EDGES) - 2)
        np.add.at(self.hist, (c, hb), 1.0)
        self.observations += int(ok.sum())

    def _fit(self) -> tuple[F64, F64, F64]:
        s = self.sums.reshape(-1, 7)
        n, sx, sy, sxx, sxy, sz2 = (s[:, k] for k in range(6))
        p = self.params
        nn = np.maximum(n, 1e-9)
        vx = sxx / nn - (sx / nn) ** 2
        cxy = sxy / nn - (sx / nn) * (sy / nn)
        w = np.clip(cxy / np.maximum(vx, p.ridge), 0.0, 1.0)
        cum = np.cumsum(self.hist, axis=1)
        total = cum[:, -1:]
        mid = np.argmax(cum >= 0.5 * np.maximum(total, 1e-9), axis=1)
        a = np.where(total[:, 0] > 0, 0.5 * (HIST_EDGES[mid] + HIST_EDGES[mid + 1]), 0.0)
        trust = n / (n + p.prior_n)
        w = w * trust
        a = np.clip(a * trust, -p.max_bias_s, p.max_bias_s)
        scale = np.where(n > 30, np.sqrt(np.maximum(sz2 / nn, 0.25)), 1.0)
        scale = 1.0 + trust * (scale - 1.0)
        return a, w, scale

    def apply(
        self, horizon_s: F64, model_ts: F64, scheduled_ts: F64, sigma_s: F64, state: NDArray[np.int64]
    ) -> tuple[F64, F64]:
        """Calibrated arrival times and uncertainties."""
        if self.observations == 0 or len(model_ts) == 0:
            return model_ts, sigma_s
        a, w, scale = self._fit()
        c = self.cells(horizon_s, model_ts, scheduled_ts, state)
        return model_ts + a[c] + w[c] * (scheduled_ts - model_ts), sigma_s * scale[c]

    def statistics(self) -> dict[str, object]:
        a, w, _ = self._fit()
        return {"observations": self.observations,
                "pull_to_timetable": [round(float(x), 3) for x in w.reshape(N_BINS, -1).mean(axis=1)],
                "bias_s": [round(float(x), 1) for x in a.reshape(N_BINS, -1).mean(axis=1)]}
