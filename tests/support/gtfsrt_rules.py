"""The public GTFS-Realtime validator's rules, re-stated over decoded feeds (gtfs-realtime-bindings).

Rule ids are those of MobilityData/CUTR ``gtfs-realtime-validator`` (RULES.md):

* E001 times are POSIX seconds; E002 stop_sequence strictly increasing within a trip;
* E003 trip_id in GTFS; E004 route_id in GTFS; E009 stop_sequence given where a trip visits a
  stop twice (we require it, and stop_id, on every update); E011 stop_id in GTFS;
* E012 header timestamp >= every entity timestamp; E013 frequency exact_times=0 trips
  UNSCHEDULED; E017 content changed with the same header timestamp; E018 header timestamp
  decreased; E022 times not increasing from stop to stop (each of arrival and departure against
  the previous stop's arrival and departure, strictly); E024 direction_id as in GTFS; E025
  departure before arrival; E026 invalid position; E027 invalid bearing; E045 stop_sequence
  and stop_id disagree with GTFS; E042 times on a NO_DATA update; W008 header older than 65 s.

Plus this project's own rules: FULL_DATASET, version 2.0, unique and stable entity ids
(``{start_date}:{trip_id}[:{start_time}]``), uncertainty on every predicted time.
"""

from __future__ import annotations

from google.transit import gtfs_realtime_pb2 as pb

from transit.schedule.index import ScheduleIndex

STU = pb.TripUpdate.StopTimeUpdate
MAX_AGE_S = 65


def _stops_of(index: ScheduleIndex, t: int) -> dict[int, str]:
    rows = index.trip_calls(t)
    return {int(index.st_seq[r]): index.stop_ids[int(index.st_stop[r])] for r in range(rows.start, rows.stop)}


def check_feed(message: pb.FeedMessage, index: ScheduleIndex, now: float | None = None,
               previous: pb.FeedMessage | None = None) -> list[tuple[str, str]]:
    """Every violation as (rule, what)."""
    out: list[tuple[str, str]] = []
    h = message.header
    if h.gtfs_realtime_version != "2.0":
        out.append(("version", h.gtfs_realtime_version))
    if not h.HasField("incrementality") or h.incrementality != pb.FeedHeader.FULL_DATASET:
        out.append(("FULL_DATASET", "incrementality is not FULL_DATASET"))
    ts = h.timestamp
    if not 1_000_000_000 <= ts < 4_000_000_000:
        out.append(("E001", f"header timestamp {ts}"))
    if now is not None and now - ts > MAX_AGE_S:
        out.append(("W008", f"header timestamp {ts} is {now - ts:.0f} s old"))
    if previous is not None:
        prev_ts = previous.header.timestamp
        if ts < prev_ts:
            out.append(("E018", f"header timestamp {ts} < previous {prev_ts}"))
        elif ts == prev_ts and list(previous.entity) != list(message.entity):
            out.append(("E017", f"content changed, header timestamp {ts} did not"))
    ids: set[str] = set()
    for e in message.entity:
        if e.id in ids:
            out.append(("entity_id", f"duplicate entity id {e.id}"))
        ids.add(e.id)
        if e.HasField("trip_update"):
            out += _check_trip_update(e, index, ts)
        if e.HasField("vehicle"):
            out += _check_vehicle(e, index, ts)
    return out


def _check_descriptor(eid: str, td: pb.TripDescriptor, index: ScheduleIndex) -> tuple[list[tuple[str, str]], int | None]:
    out: list[tuple[str, str]] = []
    t = index.find_trip(td.trip_id)
    if t is None:
        return [("E003", f"{eid}: trip_id {td.trip_id!r} not in GTFS")], None
    if index.find_route(td.route_id) is None:
        out.append(("E004", f"{eid}: route_id {td.route_id!r} not in GTFS"))
    elif index.route_ids[int(index.trip_route[t])] != td.route_id:
        out.append(("E004", f"{eid}: route_id {td.route_id!r} is not the trip's route"))
    d = int(index.trip_direction[t])
    if td.HasField("direction_id") and (d < 0 or td.direction_id != d):
        out.append(("E024", f"{eid}: direction_id {td.direction_id} but GTFS has {d}"))
    rows = index.trip_frequencies(t)
    unscheduled = rows.stop > rows.start and not bool(index.freq_exact[rows].all())
    if unscheduled and td.schedule_relationship not in (pb.TripDescriptor.UNSCHEDULED,
                                                          pb.TripDescriptor.CANCELED):
        out.append(("E013", f"{eid}: exact_times=0 trip is not UNSCHEDULED"))
    if index.is_frequency_trip(t) and not td.start_time:
        out.append(("E006", f"{eid}: frequency-based trip without start_time"))
    if not td.start_date or len(td.start_date) != 8:
        out.append(("E021", f"{eid}: start_date {td.start_date!r}"))
    return out, t


def _check_trip_update(e: pb.FeedEntity, index: ScheduleIndex, header_ts: int) -> list[tuple[str, str]]:
    tu = e.trip_update
    td = tu.trip
    out, t = _check_descriptor(e.id, td, index)
    expected_id = f"{td.start_date}:{td.trip_id}" + (f":{td.start_time}" if t is not None and
                                                      index.is_frequency_trip(t) else "")
    if e.id != expected_id:
        out.append(("entity_id", f"{e.id} is not {expected_id}"))
    if tu.timestamp and tu.timestamp > header_ts:
        out.append(("E012", f"{e.id}: timestamp {tu.timestamp} after header {header_ts}"))
    if td.schedule_relationship == pb.TripDescriptor.CANCELED:
        return out
    if not tu.stop_time_update:
        out.append(("E041", f"{e.id}: no stop_time_update"))
    static = _stops_of(index, t) if t is not None else {}
    prev_seq = None
    prev_arr = prev_dep = None
    for u in tu.stop_time_update:
        where = f"{e.id} stop_sequence {u.stop_sequence}"
        if not u.HasField("stop_sequence") or not u.HasField("stop_id"):
            out.append(("E009", f"{where}: stop_sequence and stop_id must both be set"))
        if index.find_stop(u.stop_id) is None:
            out.append(("E011", f"{where}: stop_id {u.stop_id!r} not in GTFS"))
        if t is not None and static.get(u.stop_sequence) != u.stop_id:
            out.append(("E045", f"{where}: GTFS has {static.get(u.stop_sequence)!r}, feed {u.stop_id!r}"))
        if prev_seq is not None and u.stop_sequence <= prev_seq:
            out.append(("E002", f"{where} after {prev_seq}"))
        prev_seq = u.stop_sequence
        rel = u.schedule_relationship
        if rel in (STU.NO_DATA, STU.SKIPPED):
            if u.HasField("arrival") or u.HasField("departure"):
                out.append(("E042", f"{where}: times on a {STU.ScheduleRelationship.Name(rel)} update"))
            continue
        if td.schedule_relationship == pb.TripDescriptor.UNSCHEDULED and rel != STU.UNSCHEDULED:
            out.append(("E013", f"{where}: update of an UNSCHEDULED trip is not UNSCHEDULED"))
        if not u.HasField("arrival") and not u.HasField("departure"):
            out.append(("E043", f"{where}: neither arrival nor departure"))
        arr = u.arrival.time if u.HasField("arrival") and u.arrival.HasField("time") else None
        dep = u.departure.time if u.HasField("departure") and u.departure.HasField("time") else None
        for name, event, value in (("arrival", u.arrival, arr), ("departure", u.departure, dep)):
            if value is None:
                continue
            if not 1_000_000_000 <= value < 4_000_000_000:
                out.append(("E001", f"{where}: {name} {value}"))
            if not event.HasField("uncertainty"):
                out.append(("uncertainty", f"{where}: {name} without uncertainty"))
        if arr is not None:
            for prev in (prev_arr, prev_dep):
                if prev is not None and arr <= prev:
                    out.append(("E022", f"{where}: arrival {arr} not after previous stop's {prev}"))
        if dep is not None:
            for prev in (prev_arr, prev_dep):
                if prev is not None and dep <= prev:
                    out.append(("E022", f"{where}: departure {dep} not after previous stop's {prev}"))
        if arr is not None and dep is not None and dep < arr:
            out.append(("E025", f"{where}: departure {dep} before arrival {arr}"))
        prev_arr = arr if arr is not None else prev_arr
        prev_dep = dep if dep is not None else prev_dep
    return out


def _check_vehicle(e: pb.FeedEntity, index: ScheduleIndex, header_ts: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    vp = e.vehicle
    if vp.vehicle.id != e.id:
        out.append(("entity_id", f"vehicle entity {e.id} carries vehicle {vp.vehicle.id}"))
    p = vp.position
    if not (-90 <= p.latitude <= 90 and -180 <= p.longitude <= 180):
        out.append(("E026", f"{e.id}: position {p.latitude},{p.longitude}"))
    if p.HasField("bearing") and not 0 <= p.bearing <= 360:
        out.append(("E027", f"{e.id}: bearing {p.bearing}"))
    if vp.timestamp > header_ts:
        out.append(("E012", f"{e.id}: timestamp {vp.timestamp} after header {header_ts}"))
    if not 1_000_000_000 <= vp.timestamp < 4_000_000_000:
        out.append(("E001", f"{e.id}: timestamp {vp.timestamp}"))
    if vp.HasField("trip"):
        problems, t = _check_descriptor(e.id, vp.trip, index)
        out += problems
        if vp.HasField("stop_id"):
            if index.find_stop(vp.stop_id) is None:
                out.append(("E011", f"{e.id}: stop_id {vp.stop_id!r} not in GTFS"))
            elif t is not None and _stops_of(index, t).get(vp.current_stop_sequence) != vp.stop_id:
                out.append(("E045", f"{e.id}: stop {vp.stop_id} is not stop_sequence {vp.current_stop_sequence}"))
    return out


def decode(body: bytes) -> pb.FeedMessage:
    return pb.FeedMessage.FromString(body)
