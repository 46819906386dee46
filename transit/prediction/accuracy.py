"""Prediction accuracy by horizon bucket: the arithmetic, shared by the live monitor, the
``/api/v1/accuracy`` endpoint, ``transit evaluate`` and the bureau's reports.

A prediction made at time ``t`` for a call says the bus will arrive at ``p``; its horizon is
``p - t`` and its error ``actual - p`` (negative: the bus came early).  It is *inside the window*
when the bus came no more than ``early_s`` before nor ``late_s`` after the prediction, with the
windows published per bucket:

========  =======  ======
horizon   early    late
========  =======  ======
0–3 min   60 s     60 s
3–6 min   90 s     120 s
6–12 min  150 s    210 s
12–30 min 240 s    360 s
========  =======  ======

Pure: numpy arrays and frozen dataclasses in, frozen dataclasses out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    lo_s: float
    hi_s: float
    early_s: float
    late_s: float


BUCKETS: tuple[Bucket, ...] = (
    Bucket("0-3", 0.0, 180.0, 60.0, 60.0),
    Bucket("3-6", 180.0, 360.0, 90.0, 120.0),
    Bucket("6-12", 360.0, 720.0, 150.0, 210.0),
    Bucket("12-30", 720.0, 1800.0, 240.0, 360.0),
)
BUCKET_NAMES = tuple(b.name for b in BUCKETS)
_EDGES = np.array([b.lo_s for b in BUCKETS] + [BUCKETS[-1].hi_s])
_EARLY = np.array([b.early_s for b in BUCKETS])
_LATE = np.array([b.late_s for b in BUCKETS])


def bucket_of(horizon_s: F64) -> NDArray[np.int64]:
    """Index into BUCKETS of each horizon; -1 outside 0–30 min."""
    h = np.asarray(horizon_s, dtype=np.float64)
    b = np.searchsorted(_EDGES, h, side="right") - 1
    return np.where((h >= _EDGES[0]) & (h < _EDGES[-1]) & np.isfinite(h), b, -1).astype(np.int64)


def inside_window(bucket: NDArray[np.int64], error_s: F64) -> NDArray[np.bool_]:
    """``error_s`` = actual - predicted; True where within the bucket's early/late window."""
    b = np.clip(bucket, 0, len(BUCKETS) - 1)
    e = np.asarray(error_s, dtype=np.float64)
    return (bucket >= 0) & (e >= -_EARLY[b]) & (e <= _LATE[b])


@dataclass(frozen=True, slots=True)
class AccuracyRow:
    bucket: str
    n: int
    mae_s: float | None
    #: Mean of actual - predicted: positive means buses come later than predicted.
    bias_s: float | None
    within_share: float | None
    early_s: float
    late_s: float

    def as_json(self) -> dict[str, object]:
        return {
            "bucket": self.bucket, "n": self.n,
            "mae_s": None if self.mae_s is None else round(self.mae_s, 1),
            "bias_s": None if self.bias_s is None else round(self.bias_s, 1),
            "within_share": None if self.within_share is None else round(self.within_share, 4),
            "window": {"early_s": self.early_s, "late_s": self.late_s},
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums that add up across batches, days and processes (what is stored)."""

    n: int = 0
    abs_error_s: float = 0.0
    error_s: float = 0.0
    within: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.n + other.n, self.abs_error_s + other.abs_error_s, self.error_s + other.error_s,
                      self.within + other.within)

    def row(self, bucket: Bucket) -> AccuracyRow:
        if self.n == 0:
            return AccuracyRow(bucket.name, 0, None, None, None, bucket.early_s, bucket.late_s)
        return AccuracyRow(bucket.name, self.n, self.abs_error_s / self.n, self.error_s / self.n,
                           self.within / self.n, bucket.early_s, bucket.late_s)


@dataclass(frozen=True)
class AccuracyTable:
    overall: tuple[AccuracyRow, ...]
    by_route: dict[str, tuple[AccuracyRow, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "buckets": [{"bucket": b.name, "horizon_min": [b.lo_s / 60, b.hi_s / 60],
                         "early_s": b.early_s, "late_s": b.late_s} for b in BUCKETS],
            "overall": [r.as_json() for r in self.overall],
            "lines": {route: [r.as_json() for r in rows] for route, rows in sorted(self.by_route.items())},
        }

    def bucket(self, name: str) -> AccuracyRow:
        return next(r for r in self.overall if r.bucket == name)


def totals_by_bucket(
    horizon_s: F64, error_s: F64, groups: Sequence[str] | NDArray[np.object_] | None = None
) -> dict[tuple[str | None, str], Totals]:
    """Sums per (group or None, bucket name) of predictions within 30 min."""
    b = bucket_of(horizon_s)
    e = np.asarray(error_s, dtype=np.float64)
    ok = (b >= 0) & np.isfinite(e)
    b, e = b[ok], e[ok]
    inside = inside_window(b, e)
    out: dict[tuple[str | None, str], Totals] = {}
    keys: list[str | None]
    if groups is None:
        keys = [None]
        gidx = np.zeros(len(b), dtype=np.int64)
    else:
        g = np.asarray(groups, dtype=object)[ok]
        uniq, gidx = np.unique(g.astype(str), return_inverse=True)
        keys = list(uniq)
    for gi, key in enumerate(keys):
        for bi, bucket in enumerate(BUCKETS):
            m = (gidx == gi) & (b == bi)
            if m.any():
                out[(key, bucket.name)] = Totals(int(m.sum()), float(np.abs(e[m]).sum()), float(e[m].sum()),
                                                 int(inside[m].sum()))
    return out


def table_from_totals(totals: Iterable[tuple[str | None, str, Totals]]) -> AccuracyTable:
    """The table (overall and per line) from per-(line, bucket) sums, e.g. rows of the
    ``prediction_accuracy`` table.  A line of None counts towards the overall figures only."""
    overall: dict[str, Totals] = {b.name: Totals() for b in BUCKETS}
    lines: dict[str, dict[str, Totals]] = {}
    for route, bucket, t in totals:
        if bucket not in overall:
            continue
        overall[bucket] = overall[bucket] + t
        if route is not None:
            per = lines.setdefault(route, {b.name: Totals() for b in BUCKETS})
            per[bucket] = per[bucket] + t
    return AccuracyTable(
        overall=tuple(overall[b.name].row(b) for b in BUCKETS),
        by_route={r: tuple(per[b.name].row(b) for b in BUCKETS) for r, per in lines.items()},
    )


def summarize(
    horizon_s: F64, error_s: F64, route_ids: Sequence[str] | NDArray[np.object_] | None = None
) -> AccuracyTable:
    """MAE, bias and share inside the windows per horizon bucket, overall and per line.

    ``horizon_s`` = predicted arrival - time the prediction was made; ``error_s`` = actual arrival
    - predicted arrival; ``route_ids`` (optional) the line of each prediction.
    """
    if route_ids is None:
        t = totals_by_bucket(horizon_s, error_s)
        return table_from_totals((None, b, v) for (_, b), v in t.items())
    t = totals_by_bucket(horizon_s, error_s, route_ids)
    return table_from_totals((r, b, v) for (r, b), v in t.items())


def format_table(rows: Sequence[tuple[str, AccuracyTable]]) -> str:
    """A plain-text comparison of several tables (model vs baselines), one column group each."""
    head = f"{'horizon':<9}" + "".join(f" | {name:^30}" for name, _ in rows)
    sub = f"{'':<9}" + "".join(f" | {'n':>7} {'MAE s':>7} {'inside':>7} {'bias':>6}" for _ in rows)
    lines = [head, sub, "-" * len(sub)]
    for b in BUCKETS:
        cells = []
        for _, table in rows:
            r = table.bucket(b.name)
            if r.n == 0:
                cells.append(f" | {0:>7} {'-':>7} {'-':>7} {'-':>6}")
            else:
                cells.append(f" | {r.n:>7} {r.mae_s:>7.1f} {100 * (r.within_share or 0):>6.1f}% {r.bias_s:>6.0f}")
        lines.append(f"{b.name + ' min':<9}" + "".join(cells))
    return "\n".join(lines)
