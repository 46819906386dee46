"""Vehicle tracking: map matching, trip assignment, arrival detection, and the writer that
publishes prediction snapshots.

Pure core (no aiohttp, asyncpg or protobuf; ``now`` is an argument): ``network``, ``matching``,
``assign``, ``arrivals``, ``vehicle``, ``tracker``, ``outputs``, ``publish``, ``engine``.
Adapters at the edge: ``store`` (PostgreSQL), ``service`` (the writer task), ``component``
(aiohttp wiring), ``accuracy_http`` (GET /api/v1/accuracy), ``metrics`` (Prometheus) and
``evaluate_command`` (``transit evaluate``).  See docs/tracking.md.
"""

from __future__ import annotations

import importlib
from typing import Any

# Re-exported lazily: transit.prediction imports transit.tracking.network, and the tracker
# imports transit.prediction, so the package must not import its modules eagerly.
_EXPORTS = {
    "ArrivalEvent": "transit.tracking.arrivals",
    "BatchResult": "transit.tracking.tracker",
    "Engine": "transit.tracking.engine",
    "Tracker": "transit.tracking.tracker",
    "TrackerParams": "transit.tracking.tracker",
    "TrackingNetwork": "transit.tracking.network",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'transit.tracking' has no attribute {name!r}")
