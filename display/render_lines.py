"""What one line of a board shows, and the memory that keeps it from flapping.

A *line* is a route in one direction at one of the board's stops (route + headsign).  From the
arrivals of the shared :func:`transit.core.arrivals.list_arrivals` and the route's first/last bus,
each line shows one state: the bus at the stop, arriving, a real-time countdown, a schedule-based
clock time marked 计划, before the first bus, or after the last.

Riders lose trust in a board that jitters, so three rules hold between consecutive renders of a
board, using what the board showed last (:class:`LineMemory`, passed in and returned out, so this
stays a pure function):

- the minutes of the same bus never go up by exactly one: prediction noise around a minute
  boundary is held at the lower value; two or more is a real delay and is shown;
- a real-time bus that drops out of the data (missing fixes, the tracker losing it for a batch)
  keeps being shown by extrapolating its last prediction, until its real-time evidence is older
  than ``stale_s``; so it does not flash out to 计划 and back in;
- evidence older than ``stale_s`` gives way to the schedule, marked 计划.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from transit.core.arrivals import Arrival


class LineStatus(StrEnum):
    AT_STOP = "at_stop"  # 已到站
    ARRIVING = "arriving"  # 即将到站
    REALTIME = "realtime"  # 3站 5分
    SCHEDULED = "scheduled"  # 计划 08:05
    BEFORE_SERVICE = "before_service"  # 首班 06:00
    AFTER_LAST = "after_last"  # 末班车已过 明日首班 06:00
    NONE = "none"  # in service, nothing within the horizon


REALTIME_STATES = (LineStatus.AT_STOP, LineStatus.ARRIVING, LineStatus.REALTIME)


@dataclass(frozen=True, slots=True)
class BoardLine:
    """The input for one line: its identity, upcoming arrivals (soonest first) and its span."""

    stop_id: str
    route_id: str
    route_short_name: str
    headsign: str
    headsign_en: str | None
    arrivals: tuple[Arrival, ...] = ()
    first_ts: float | None = None  # first bus today
    last_ts: float | None = None  # last bus today
    next_first_ts: float | None = None  # first bus of the next service day

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.stop_id, self.route_id, self.headsign)


@dataclass(frozen=True, slots=True)
class LineView:
    """What a line shows.  ``time_ts`` is the arrival counted down from (real-time), the clock
    time shown (计划, first bus) or None; ``departs_ts``, for a bus standing at the stop that
    leaves later than ``arriving_s`` from now (at the first stop of its trip, waiting for its
    time), when it leaves."""

    stop_id: str
    route_id: str
    route_short_name: str
    headsign: str
    headsign_en: str | None
    status: LineStatus
    minutes: int | None = None
    stops_away: int | None = None
    time_ts: float | None = None
    next_first_ts: float | None = None
    trip_id: str | None = None
    entity_id: str | None = None
    vehicle_id: str | None = None
    departs_ts: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.stop_id, self.route_id, self.headsign)


@dataclass(frozen=True, slots=True)
class LineMemory:
    """What a line showed last for a real-time bus, and how fresh that bus's evidence was."""

    entity_id: str
    status: LineStatus
    minutes: int | None
    arrival_ts: float  # the predicted arrival behind the shown value
    evidence_ts: float  # newest real-time evidence (last fix) for this bus
    stops_away: int | None
    trip_id: str
    vehicle_id: str | None
    at_stop_seen: bool


@dataclass(frozen=True, slots=True)
class LineParams:
    #: Seconds before arrival at which a line shows 即将到站.
    arriving_s: float = 60.0
    #: Real-time evidence older than this gives way to the schedule (计划).
    stale_s: float = 180.0
    #: A held bus (dropped out of the data) stays at most this long past its predicted arrival.
    hold_past_s: float = 60.0
    #: A real-time call whose departure is this far past is gone (matches list_arrivals).
    keep_passed_s: float = 30.0


@dataclass(frozen=True, slots=True)
class _Candidate:
    arrival: Arrival
    ts: float  # the time to count down from or show
    realtime: bool
    evidence_ts: float | None


def _candidates(line: BoardLine, now: float, p: LineParams) -> list[_Candidate]:
    out = []
    for a in line.arrivals:
        if a.status != "scheduled":  # cancelled trips and skipped calls do not stop here
            continue
        if a.realtime and a.last_fix_ts is not None and now - a.last_fix_ts > p.stale_s:
            # stale prediction: the schedule speaks for this bus again
            if a.scheduled_arrival_ts >= now:
                out.append(_Candidate(a, a.scheduled_arrival_ts, False, None))
            continue
        if a.realtime:
            if a.departure_ts < now - p.keep_passed_s and not a.at_stop:
                continue
            out.append(_Candidate(a, a.arrival_ts, True, a.last_fix_ts if a.last_fix_ts is not None else now))
        elif a.departure_ts >= now:
            out.append(_Candidate(a, a.arrival_ts, False, None))
    out.sort(key=lambda c: c.ts)
    return out


def _minutes(ts: float, now: float) -> int:
    return max(0, int((ts - now) // 60))


def _realtime_view(line: BoardLine, *, ts: float, now: float, at_stop: bool, stops_away: int | None,
                   trip_id: str, entity_id: str, vehicle_id: str | None, p: LineParams,
                   departure_ts: float | None = None) -> LineView:
    departs = None
    if at_stop:
        status, minutes = LineStatus.AT_STOP, 0
        if departure_ts is not None and departure_ts - now > p.arriving_s:
            departs = departure_ts  # standing there until its time: say when it leaves
    elif ts - now <= p.arriving_s:
        status, minutes = LineStatus.ARRIVING, 0
    else:
        status, minutes = LineStatus.REALTIME, _minutes(ts, now)
    return LineView(line.stop_id, line.route_id, line.route_short_name, line.headsign, line.headsign_en,
                    status, minutes, stops_away if not at_stop else 0, ts, None, trip_id, entity_id,
                    vehicle_id, departs)


def _held_view(line: BoardLine, prev: LineMemory, now: float, p: LineParams) -> LineView | None:
    """The previous real-time bus, extrapolated, if it may still stand in for missing data."""
    if prev.status not in REALTIME_STATES or prev.at_stop_seen:
        return None  # a bus seen at the stop that vanished has left
    if now - prev.evidence_ts > p.stale_s or now > prev.arrival_ts + p.hold_past_s:
        return None
    return _realtime_view(line, ts=prev.arrival_ts, now=now, at_stop=False, stops_away=prev.stops_away,
                          trip_id=prev.trip_id, entity_id=prev.entity_id, vehicle_id=prev.vehicle_id, p=p)


def _idle_view(line: BoardLine, now: float) -> LineView:
    base = (line.stop_id, line.route_id, line.route_short_name, line.headsign, line.headsign_en)
    if line.first_ts is not None and now < line.first_ts:
        return LineView(*base, LineStatus.BEFORE_SERVICE, time_ts=line.first_ts)
    if line.last_ts is None or now > line.last_ts:
        return LineView(*base, LineStatus.AFTER_LAST, next_first_ts=line.next_first_ts)
    return LineView(*base, LineStatus.NONE)


def view_line(line: BoardLine, prev: LineMemory | None, now: float,
              p: LineParams) -> tuple[LineView, LineMemory | None]:
    """The line's view at ``now`` given what it showed last, and the memory to keep."""
    cands = _candidates(line, now, p)
    first = cands[0] if cands else None
    view: LineView | None = None
    evidence: float | None = None

    if prev is not None:
        same = next((c for c in cands if c.arrival.entity_id == prev.entity_id), None)
        if same is None or not same.realtime:
            # the bus we showed vanished from the data, or fell back to the schedule: unless a
            # live bus now comes sooner, keep showing it while its evidence is fresh enough
            sooner = any(c.realtime and c.ts <= prev.arrival_ts and c.arrival.entity_id != prev.entity_id
                         for c in cands)
            if not sooner:
                view = _held_view(line, prev, now, p)
                if view is not None:
                    evidence = prev.evidence_ts

    if view is None and first is not None:
        a = first.arrival
        if first.realtime:
            view = _realtime_view(line, ts=first.ts, now=now, at_stop=a.at_stop, stops_away=a.stops_away,
                                  trip_id=a.trip_id, entity_id=a.entity_id, vehicle_id=a.vehicle_id, p=p,
                                  departure_ts=a.departure_ts)
            evidence = first.evidence_ts
            same_bus = prev is not None and prev.entity_id == a.entity_id
            if same_bus and prev is not None and prev.status == LineStatus.AT_STOP \
                    and view.status == LineStatus.ARRIVING:
                view = _realtime_view(line, ts=first.ts, now=now, at_stop=True, stops_away=0,
                                      trip_id=a.trip_id, entity_id=a.entity_id, vehicle_id=a.vehicle_id, p=p)
            if (prev is not None and prev.entity_id == a.entity_id and prev.minutes is not None
                    and view.minutes == prev.minutes + 1 and view.status != LineStatus.AT_STOP):
                # noise across a minute boundary: keep what the board showed
                view = LineView(view.stop_id, view.route_id, view.route_short_name, view.headsign,
                                view.headsign_en, prev.status, prev.minutes, view.stops_away, view.time_ts,
                                None, view.trip_id, view.entity_id, view.vehicle_id)
        else:
            view = LineView(line.stop_id, line.route_id, line.route_short_name, line.headsign,
                            line.headsign_en, LineStatus.SCHEDULED, _minutes(first.ts, now), None, first.ts,
                            None, a.trip_id, a.entity_id, None)

    if view is None:
        return _idle_view(line, now), None
    if view.status not in REALTIME_STATES or view.entity_id is None or view.time_ts is None:
        return view, None
    seen_at_stop = view.status == LineStatus.AT_STOP or (
        prev is not None and prev.entity_id == view.entity_id and prev.at_stop_seen)
    memory = LineMemory(
        entity_id=view.entity_id, status=view.status, minutes=view.minutes, arrival_ts=view.time_ts,
        evidence_ts=evidence if evidence is not None else now, stops_away=view.stops_away,
        trip_id=view.trip_id or "", vehicle_id=view.vehicle_id, at_stop_seen=seen_at_stop,
    )
    return view, memory


LineMemories = tuple[tuple[tuple[str, str, str], LineMemory], ...]


def next_change_ts(line: BoardLine, view: LineView, memory: LineMemory | None, now: float,
                   p: LineParams) -> float:
    """The earliest moment after ``now`` at which this line could show something else with the
    same input (a minute ticking over, a bus leaving by the timetable, a prediction going stale,
    the first bus becoming due): until then a rendered frame stays right."""
    times: list[float] = []
    if view.time_ts is not None and view.status in (LineStatus.REALTIME, LineStatus.ARRIVING):
        times.append(view.time_ts - p.arriving_s)
        if view.minutes:
            times.append(view.time_ts - 60.0 * view.minutes)
        times.append(view.time_ts + p.keep_passed_s)
    if view.status == LineStatus.BEFORE_SERVICE and view.time_ts is not None:
        times.append(view.time_ts)
    if view.departs_ts is not None:
        times.append(view.departs_ts - p.arriving_s)
    for a in line.arrivals:
        times.append(a.departure_ts)
        if a.realtime:
            times.append(a.departure_ts + p.keep_passed_s)
            times.append(a.scheduled_arrival_ts)  # once stale, the schedule time counts
            if a.last_fix_ts is not None:
                times.append(a.last_fix_ts + p.stale_s)
    if line.first_ts is not None:
        times.append(line.first_ts)
    if line.last_ts is not None:
        times.append(line.last_ts)
    if memory is not None:
        times.append(memory.evidence_ts + p.stale_s)
        times.append(memory.arrival_ts + p.hold_past_s)
    # (a change "at" t happens just after it: a frame rendered exactly then is right only then)
    later = [t for t in times if t >= now]
    return min(later) if later else float("inf")


def view_lines(lines: list[BoardLine], memory: LineMemories, now: float,
               p: LineParams) -> tuple[list[LineView], LineMemories, float]:
    """Every line's view, the memories to keep (an immutable, hashable tuple of pairs, so a
    board's state can key a cache) and when the views could next change by time alone."""
    previous = dict(memory)
    views: list[LineView] = []
    kept: list[tuple[tuple[str, str, str], LineMemory]] = []
    change = float("inf")
    for line in lines:
        view, mem = view_line(line, previous.get(line.key), now, p)
        views.append(view)
        if mem is not None:
            kept.append((line.key, mem))
        change = min(change, next_change_ts(line, view, mem, now, p))
    return views, tuple(kept), change
