"""The immutable predictions snapshot, and the small interface it is published through.

One writer (the tracker) builds a new :class:`Snapshot` after each batch of fixes and publishes
it.  Readers (rider API, GTFS-Realtime feeds, boards, MQTT push) take ``hub.current()`` once per
request and never lock.  Anything derived from a snapshot and served many times (an encoded
GTFS-RT feed, a board frame) is memoised on the snapshot with :meth:`Snapshot.derived`, so it is
built once per snapshot, never once per request.

Later, several API nodes will receive snapshots over NATS; :class:`SnapshotSource` is what they
need to implement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class CallStatus(StrEnum):
    SCHEDULED = "scheduled"
    SKIPPED = "skipped"  # the vehicle will not serve this call (detour, skipped stop)
    NO_DATA = "no_data"


class VehicleStatus(StrEnum):
    INCOMING_AT = "INCOMING_AT"
    STOPPED_AT = "STOPPED_AT"
    IN_TRANSIT_TO = "IN_TRANSIT_TO"


@dataclass(frozen=True, slots=True)
class CallPrediction:
    """One downstream call of one trip instance.  Times are POSIX seconds."""

    stop_sequence: int
    stop_id: str
    arrival_ts: float
    departure_ts: float
    scheduled_arrival_ts: float
    scheduled_departure_ts: float
    #: One standard deviation of the arrival error, seconds.
    uncertainty_s: float
    #: Distance of the stop along the trip's shape.
    dist_m: float
    status: CallStatus = CallStatus.SCHEDULED
    #: The running times to this call came from the timetable (no history or recent evidence on
    #: those segments), though the vehicle's position is real-time.
    schedule_based: bool = False


@dataclass(frozen=True, slots=True)
class TripPrediction:
    """A trip instance with its remaining calls, in increasing ``stop_sequence``.

    ``entity_id`` is stable for the life of the trip instance:
    ``"{service_date}:{trip_id}"``, plus ``":{start_time}"`` for frequency-based trips.
    ``schedule_based`` is True when no real-time evidence went into the times (the trip is a
    later trip of a block whose vehicle has not reached it yet counts as real-time: the vehicle's
    delay was carried over).
    """

    entity_id: str
    trip_id: str
    route_id: str
    direction_id: int | None
    service_date: str  # YYYYMMDD
    start_time: str | None  # HH:MM:SS, frequency-based trips only
    block_id: str | None
    vehicle_id: str | None
    schedule_based: bool
    delay_s: float
    #: Time of the newest fix that informed these predictions (None when schedule-based).
    last_fix_ts: float | None
    calls: tuple[CallPrediction, ...]
    canceled: bool = False


@dataclass(frozen=True, slots=True)
class VehicleState:
    vehicle_id: str
    ts: float  # time of the last fix
    lat: float
    lon: float
    label: str | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    trip_entity_id: str | None = None
    trip_id: str | None = None
    route_id: str | None = None
    direction_id: int | None = None
    block_id: str | None = None
    #: Distance along the current trip's shape.
    dist_m: float | None = None
    #: The stop the vehicle is at or heading to.
    stop_sequence: int | None = None
    stop_id: str | None = None
    status: VehicleStatus = VehicleStatus.IN_TRANSIT_TO
    delay_s: float | None = None
    off_route: bool = False
    #: How the trip was found: "trip_id", "block", "inferred", "layover" or "none".
    assignment: str = "none"
    #: On a trip but not advancing along it for a while (away from terminals): broken down,
    #: stuck, or parked with the terminal still on.
    no_progress: bool = False


@dataclass(frozen=True, slots=True)
class StopCall:
    """An entry of the by-stop index: the call ``trip.calls[index]``."""

    arrival_ts: float
    trip: TripPrediction
    index: int

    @property
    def call(self) -> CallPrediction:
        return self.trip.calls[self.index]


@dataclass(frozen=True, eq=False)
class Snapshot:
    version: int
    created_ts: float
    feed_id: int | None
    vehicles: Mapping[str, VehicleState]
    trips: Mapping[str, TripPrediction]  # by entity_id
    by_stop: Mapping[str, tuple[StopCall, ...]]  # sorted by arrival_ts
    _derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def build(
        version: int,
        created_ts: float,
        feed_id: int | None,
        vehicles: Mapping[str, VehicleState],
        trips: Mapping[str, TripPrediction],
    ) -> Snapshot:
        by_stop: dict[str, list[StopCall]] = {}
        for trip in trips.values():
            for i, call in enumerate(trip.calls):
                by_stop.setdefault(call.stop_id, []).append(StopCall(call.arrival_ts, trip, i))
        index = {stop: tuple(sorted(calls, key=lambda c: c.arrival_ts)) for stop, calls in by_stop.items()}
        return Snapshot(version, created_ts, feed_id, dict(vehicles), dict(trips), index)

    @staticmethod
    def empty(feed_id: int | None = None, created_ts: float = 0.0) -> Snapshot:
        return Snapshot(0, created_ts, feed_id, {}, {}, {})

    def calls_at(self, stop_id: str) -> tuple[StopCall, ...]:
        return self.by_stop.get(stop_id, ())

    def derived(self, key: Any, build: Callable[[Snapshot], T]) -> T:
        """Memoise a value computed from this snapshot (built once, on first use)."""
        try:
            return self._derived[key]  # type: ignore[no-any-return]
        except KeyError:
            value = build(self)
            self._derived[key] = value
            return value


class SnapshotSource(Protocol):
    def current(self) -> Snapshot: ...

    async def wait_newer(self, version: int, timeout_s: float | None = None) -> Snapshot:
        """Return the first snapshot with a version above ``version`` (or the current one on timeout)."""
        ...


class SnapshotPublisher(Protocol):
    def publish(self, snapshot: Snapshot) -> None: ...


class SnapshotHub:
    """In-process publication: the latest snapshot plus a wake-up for waiters."""

    def __init__(self, initial: Snapshot | None = None) -> None:
        self._current = initial or Snapshot.empty()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[Snapshot], None]] = []

    def current(self) -> Snapshot:
        return self._current

    def publish(self, snapshot: Snapshot) -> None:
        if snapshot.version <= self._current.version and self._current.version != 0:
            raise ValueError(
                f"snapshot version {snapshot.version} is not newer than {self._current.version}"
            )
        self._current = snapshot
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        for listener in list(self._listeners):
            listener(snapshot)

    def subscribe(self, listener: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call ``listener`` (synchronously, must not block) on every publish; returns unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def wait_newer(self, version: int, timeout_s: float | None = None) -> Snapshot:
        while self._current.version <= version:
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), timeout_s)
            except TimeoutError:
                break
        return self._current

    def statistics(self) -> dict[str, Any]:
        s = self._current
        return {"version": s.version, "created_ts": s.created_ts, "vehicles": len(s.vehicles),
                "trips": len(s.trips), "listeners": len(self._listeners)}
