"""Keeping published predictions from flapping between consecutive fixes.

Countdown displays that go 5, 4, 5, 4 minutes lose riders' trust faster than ones that are a
minute off.  A new prediction for a call replaces the published one only when it differs by
more than a dead band (20 s, or 4 % of the time still to go), and reversing the direction
of the last change needs twice that.  Evidence (the vehicle passed a stop, changed trip) lifts
the damping for that vehicle, and a kept value never lies in the past for a call not yet made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class SmoothParams:
    deadband_s: float = 20.0
    deadband_share: float = 0.04
    reversal_factor: float = 2.0


def smooth_predictions(
    prev_keys: I64, prev_arrival: F64, prev_dir: NDArray[np.int8], keys: I64, arrival: F64,
    evidence: NDArray[np.bool_], now: float, params: SmoothParams = SmoothParams(),
) -> tuple[F64, NDArray[np.int8]]:
    """Return the arrivals to publish for ``keys`` and the direction of each one's last change."""
    if len(prev_keys) == 0 or len(keys) == 0:
        return arrival, np.zeros(len(keys), dtype=np.int8)
    order = np.argsort(prev_keys, kind="stable")
    sk = prev_keys[order]
    pos = np.clip(np.searchsorted(sk, keys), 0, len(sk) - 1)
    found = sk[pos] == keys
    src = order[pos]
    old = np.where(found, prev_arrival[src], arrival)
    odir = np.where(found, prev_dir[src], 0).astype(np.int8)
    delta = arrival - old
    band = np.maximum(params.deadband_s, params.deadband_share * np.maximum(old - now, 0.0))
    sign = np.sign(delta).astype(np.int8)
    small = np.abs(delta) < band
    reversal = (sign == -odir) & (odir != 0) & (np.abs(delta) < params.reversal_factor * band)
    keep = found & ~evidence & (small | reversal) & (old >= now)
    out = np.where(keep, old, arrival)
    dirs = np.where(keep, odir, np.where(found & (sign != 0), sign, odir)).astype(np.int8)
    return out, dirs
