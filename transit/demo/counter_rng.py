"""Counter-based random numbers: a value is a hash of (seed, key, counter, stream).

The simulator draws a report's timing jitter and GPS noise from the vehicle and the report's
number, never from a shared stream, so the fixes are the same whether the caller advances the
clock one second at a time or an hour at once, and one vehicle's noise does not change when the
fleet does.  splitmix64 finalisers over numpy uint64 arrays (wrap-around multiplication is the
point, so it is done on arrays, where numpy does not warn).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform(seed: int, key: NDArray[np.uint64], counter: NDArray[np.uint64], stream: int) -> NDArray[np.float64]:
    """Uniform [0, 1) per element, a pure function of its arguments."""
    k = np.asarray(key, dtype=np.uint64)
    c = np.asarray(counter, dtype=np.uint64)
    s = np.full(k.shape, (seed * 0x100 + stream) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    x = _mix(_mix(s) ^ (k * _GOLDEN))
    x = _mix(x ^ (c * _M2 + _GOLDEN))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def normal(seed: int, key: NDArray[np.uint64], counter: NDArray[np.uint64], stream: int) -> NDArray[np.float64]:
    """Standard normal per element (Box–Muller over two counter-based uniforms)."""
    u1 = uniform(seed, key, counter, 2 * stream + 1)
    u2 = uniform(seed, key, counter, 2 * stream + 2)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
