"""The service measuring its own accuracy: predictions served are sampled and, once the bus has
arrived, compared with the detected arrival.

Each vehicle's predictions are sampled when they are published, at most once per
``sample_interval_s`` of that vehicle (every call within 30 minutes), so that a city of
thousands of buses keeps a bounded number of open samples.  Samples wait in numpy chunks keyed
by (trip instance, call); arrivals are kept by the same key for a while, because a call's
arrival is usually detected long after the samples for it were taken, but a sample can also be
taken while the bus is already standing at the stop.  Scores accumulate per service day, line
and horizon bucket as :class:`~transit.prediction.accuracy.Totals`, which add up across batches
and are what gets stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from transit.prediction.accuracy import (
    BUCKETS,
    AccuracyTable,
    Totals,
    bucket_of,
    inside_window,
    table_from_totals,
)

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

BUCKET_INDEX = {b.name: i for i, b in enumerate(BUCKETS)}
#: A sample whose call was not seen arriving this long after its predicted time is dropped.
MAX_WAIT_S = 3600.0
#: Arrivals are remembered this long for samples taken while the bus stood at the stop.
ARRIVAL_KEEP_S = 3 * 3600.0


@dataclass
class _Chunk:
    key: I64
    made_ts: F64
    predicted_ts: F64
    route: I64
    day: I64  # service date ordinal of the instance
    model_ts: F64  # before calibration (what calibration learns from)
    model_sigma_s: F64
    scheduled_ts: F64
    fresh: NDArray[np.bool_]  # made at a fix (not a re-prediction because time passed)
    call_state: NDArray[np.int64]  # calibration.call_states: next call ahead, vehicle standing


_FIELDS = ("key", "made_ts", "predicted_ts", "route", "day", "model_ts", "model_sigma_s", "scheduled_ts", "fresh",
           "call_state")


@dataclass(frozen=True, slots=True)
class Scored:
    """Samples just matched with their arrivals."""

    made_ts: F64
    model_ts: F64
    model_sigma_s: F64
    scheduled_ts: F64
    actual_ts: F64
    fresh: NDArray[np.bool_]
    call_state: NDArray[np.int64]


@dataclass
class AccuracyMonitor:
    route_ids: tuple[str, ...]
    sample_interval_s: float = 60.0
    #: Per (service date ordinal, route_id, bucket index): running totals.
    totals: dict[tuple[int, str, int], Totals] = field(default_factory=dict)
    #: Totals added since the last :meth:`take_unsaved` (for storage).
    unsaved: dict[tuple[int, str, int], Totals] = field(default_factory=dict)
    _chunks: list[_Chunk] = field(default_factory=list)
    _last_sample: dict[str, float] = field(default_factory=dict)
    _arr_keys: list[I64] = field(default_factory=list)
    _arr_ts: list[F64] = field(default_factory=list)
    _known_keys: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _known_ts: F64 = field(default_factory=lambda: np.zeros(0))
    counters: dict[str, int] = field(default_factory=lambda: {"sampled": 0, "scored": 0, "expired": 0})
    _last_expiry: float = float("-inf")

    # ------------------------------------------------------------------ input
    def sample(
        self, vehicle_ids: list[str], vehicle: I64, keys: I64, predicted_ts: F64, route: I64, day: I64,
        now: float, model_ts: F64 | None = None, model_sigma_s: F64 | None = None,
        scheduled_ts: F64 | None = None, fresh: NDArray[np.bool_] | None = None,
        call_state: NDArray[np.int64] | None = None,
    ) -> None:
        """Predictions just served (per call: owning vehicle index, key, arrival, line, day; and
        optionally what the model said before calibration, its uncertainty and the timetable)."""
        if len(keys) == 0:
            return
        last = self._last_sample
        due = np.fromiter(
            (now - last.get(vid, -np.inf) >= self.sample_interval_s for vid in vehicle_ids),
            dtype=bool, count=len(vehicle_ids),
        )
        if not due.any():
            return
        for i in np.flatnonzero(due).tolist():
            last[vehicle_ids[i]] = now
        horizon = predicted_ts - now
        take = due[vehicle] & (horizon >= 0) & (horizon < BUCKETS[-1].hi_s)
        if not take.any():
            return
        nan = np.full(len(keys), np.nan)
        self._chunks.append(_Chunk(
            keys[take].copy(), np.full(int(take.sum()), now), predicted_ts[take].copy(), route[take].copy(),
            day[take].copy(), (predicted_ts if model_ts is None else model_ts)[take].copy(),
            (nan if model_sigma_s is None else model_sigma_s)[take].copy(),
            (nan if scheduled_ts is None else scheduled_ts)[take].copy(),
            (np.ones(len(keys), dtype=bool) if fresh is None else fresh)[take].copy(),
            (np.zeros(len(keys), dtype=np.int64) if call_state is None else call_state)[take].copy()))
        self.counters["sampled"] += int(take.sum())

    def observe(self, keys: I64, arrival_ts: F64) -> None:
        """Arrivals just detected (keys as in :meth:`sample`)."""
        ok = np.isfinite(arrival_ts)
        if ok.any():
            self._arr_keys.append(np.asarray(keys, dtype=np.int64)[ok])
            self._arr_ts.append(np.asarray(arrival_ts, dtype=np.float64)[ok])

    # ------------------------------------------------------------------ scoring
    def score(self, now: float) -> Scored | None:
        """Match open samples with arrivals; return those just scored."""
        if not self._arr_keys and now - self._last_expiry < MAX_WAIT_S / 4:
            return None  # no new arrivals, and expiring old samples can wait
        self._last_expiry = now
        if self._arr_keys:
            keys = np.concatenate([self._known_keys, *self._arr_keys])
            ts = np.concatenate([self._known_ts, *self._arr_ts])
            self._arr_keys, self._arr_ts = [], []
            order = np.argsort(keys, kind="stable")
            keys, ts = keys[order], ts[order]
            self._known_keys, self._known_ts = keys, ts
        recent = self._known_ts >= now - ARRIVAL_KEEP_S
        if not recent.all():
            self._known_keys, self._known_ts = self._known_keys[recent], self._known_ts[recent]
        if not self._chunks:
            return None
        c = _Chunk(*(np.concatenate([getattr(ch, f) for ch in self._chunks]) for f in _FIELDS))
        known = self._known_keys
        if len(known):
            pos = np.clip(np.searchsorted(known, c.key), 0, len(known) - 1)
            hit = known[pos] == c.key
            actual = np.where(hit, self._known_ts[pos], np.nan)
        else:
            hit = np.zeros(len(c.key), dtype=bool)
            actual = np.full(len(c.key), np.nan)
        # an arrival before the sample was taken: the bus was already there; not a prediction
        hit_valid = hit & (actual >= c.made_ts)
        if hit_valid.any():
            self._add(c.route[hit_valid], c.day[hit_valid], c.predicted_ts[hit_valid] - c.made_ts[hit_valid],
                      actual[hit_valid] - c.predicted_ts[hit_valid])
        expired = ~hit & (c.predicted_ts < now - MAX_WAIT_S)
        self.counters["scored"] += int(hit_valid.sum())
        self.counters["expired"] += int(expired.sum())
        keep = ~hit & ~expired
        self._chunks = [_Chunk(*(getattr(c, f)[keep] for f in _FIELDS))] if keep.any() else []
        if not hit_valid.any():
            return None
        h = hit_valid
        return Scored(c.made_ts[h], c.model_ts[h], c.model_sigma_s[h], c.scheduled_ts[h], actual[h], c.fresh[h],
                      c.call_state[h])

    def _add(self, route: I64, day: I64, horizon_s: F64, error_s: F64) -> None:
        b = bucket_of(horizon_s)
        ok = b >= 0
        route, day, b, e = route[ok], day[ok], b[ok], error_s[ok]
        inside = inside_window(b, e)
        key = (day * 100_000 + route) * 8 + b
        uniq, inv = np.unique(key, return_inverse=True)
        n = np.bincount(inv)
        sabs = np.bincount(inv, weights=np.abs(e))
        serr = np.bincount(inv, weights=e)
        sin = np.bincount(inv, weights=inside.astype(np.float64))
        names = self.route_ids
        for j, k in enumerate(uniq.tolist()):
            rest = k // 8
            r = rest % 100_000
            ident = (rest // 100_000, names[r] if 0 <= r < len(names) else "", k % 8)
            t = Totals(int(n[j]), float(sabs[j]), float(serr[j]), int(sin[j]))
            self.totals[ident] = self.totals.get(ident, Totals()) + t
            self.unsaved[ident] = self.unsaved.get(ident, Totals()) + t

    # ------------------------------------------------------------------ output
    def table(self, day: dt.date | None = None) -> AccuracyTable:
        """Overall and per-line figures for one service day (default: all days seen)."""
        want = day.toordinal() if day is not None else None
        rows = (
            (r or None, BUCKETS[b].name, t) for (d, r, b), t in self.totals.items() if want is None or d == want
        )
        return table_from_totals(rows)

    def add_stored(self, day: dt.date, route_id: str, bucket: str, totals: Totals) -> None:
        """Totals read back from storage at start (already saved, so not 'unsaved')."""
        if bucket in BUCKET_INDEX:
            ident = (day.toordinal(), route_id, BUCKET_INDEX[bucket])
            self.totals[ident] = self.totals.get(ident, Totals()) + totals

    def set_routes(self, route_ids: tuple[str, ...]) -> None:
        """A new feed version renumbers lines: carry the open samples over by route_id."""
        new = {r: i for i, r in enumerate(route_ids)}
        remap = np.array([new.get(r, -1) for r in self.route_ids] + [-1], dtype=np.int64)
        for ch in self._chunks:
            ch.route = remap[np.where(ch.route >= 0, ch.route, len(self.route_ids))]
        self.route_ids = route_ids

    def requeue_unsaved(self, day: dt.date, route_id: str, bucket: str, totals: Totals) -> None:
        """Totals that could not be stored: keep them for the next attempt."""
        ident = (day.toordinal(), route_id, BUCKET_INDEX[bucket])
        self.unsaved[ident] = self.unsaved.get(ident, Totals()) + totals

    def take_unsaved(self) -> list[tuple[dt.date, str, str, Totals]]:
        out = [(dt.date.fromordinal(d), r, BUCKETS[b].name, t) for (d, r, b), t in self.unsaved.items()]
        self.unsaved = {}
        return out

    def pending(self) -> int:
        return sum(len(c.key) for c in self._chunks)

    def statistics(self) -> dict[str, Any]:
        return {**self.counters, "pending": self.pending(), "arrivals_known": len(self._known_keys)}
