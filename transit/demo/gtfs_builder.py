"""Turn a network drawn on roads (stops, lines, headway profiles) into GTFS files.

Timetables are built the way a small operator builds them: departures from each terminal follow
a headway profile per day type, running times come from road speeds slowed in the peaks, and
buses are chained into blocks at the terminals first-in-first-out (a bus that arrives waits at
least the minimum layover, the one waiting longest leaves first; a new bus pulls out only when
none is free).  Everything is deterministic: the same definition gives byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from transit.demo.roads import RoadGraph, Walk, kerb_position, walk
from transit.schedule.geometry import LocalProjection
from transit.schedule.service import format_gtfs_time, parse_gtfs_time

#: Scheduled dwell: at a terminal or hub, at a busy stop, at any other stop (seconds).
DWELL_HUB_S = 30
DWELL_BUSY_S = 25
DWELL_S = 15
MIN_LAYOVER_S = 300


@dataclass(frozen=True, slots=True)
class StopSite:
    """A roadside stop on ``edge`` at ``fraction`` of its length: one stop_id per side."""

    number: int
    edge: tuple[str, str]
    fraction: float
    name: str
    name_en: str
    busy: float = 0.5  # 0..1, riders relative to the busiest stop


@dataclass(frozen=True, slots=True)
class Hub:
    """A stop at a node used by both directions: a terminal, a station bay, a plaza."""

    node: str
    stop_id: str
    name: str
    name_en: str
    busy: float = 0.8


@dataclass(frozen=True, slots=True)
class Profile:
    """Departures of one day type: ``periods`` are (from "HH:MM", headway minutes); the last
    bus leaves at ``last``."""

    periods: tuple[tuple[str, int], ...]
    last: str

    def departures(self, offset_s: int = 0) -> list[int]:
        starts = [parse_gtfs_time(p + ":00") for p, _ in self.periods]
        heads = [h * 60 for _, h in self.periods]
        end = parse_gtfs_time(self.last + ":00")
        out: list[int] = []
        t = starts[0] + offset_s
        while t <= end:
            out.append(t)
            k = max(i for i, s in enumerate(starts) if s <= t) if t >= starts[0] else 0
            t += heads[k]
        if out and out[-1] < end:
            out.append(end)  # the published last bus (末班车) leaves at ``last`` exactly
        return out


@dataclass(frozen=True)
class Line:
    route_id: str
    short_name: str
    name: str
    name_en: str
    color: str
    nodes: tuple[str, ...]  # direction 0; direction 1 walks them backwards
    hubs: frozenset[str]  # nodes where the line calls at the hub stop
    profiles: dict[str, Profile]  # service_id -> departures from each terminal
    loop: bool = False
    frequency: bool = False  # published as frequencies.txt (headway-based) instead of trips
    dir1_offset_min: int = 5
    skip: frozenset[int] = frozenset()  # stop site numbers the line passes without calling


@dataclass(frozen=True)
class Service:
    service_id: str
    weekdays: tuple[int, ...]  # 7 flags, Monday first
    start: dt.date
    end: dt.date
    added: tuple[dt.date, ...] = ()
    removed: tuple[dt.date, ...] = ()
    #: Running-time multipliers: (from "HH:MM", factor) — peaks are slower.
    slowdown: tuple[tuple[str, float], ...] = (("00:00", 1.0),)

    def factor(self, t_s: float) -> float:
        f = 1.0
        for start, value in self.slowdown:
            if parse_gtfs_time(start + ":00") <= t_s:
                f = value
        return f


@dataclass
class Network:
    agency_id: str
    agency_name: str
    agency_name_en: str
    agency_url: str
    timezone: str
    lang: str
    projection: LocalProjection
    graph: RoadGraph
    sites: list[StopSite]
    hubs: list[Hub]
    lines: list[Line]
    services: list[Service]
    feed_version: str
    publisher: str = "zhangqiu-transit demo"
    publisher_url: str = "https://zhangqiu-demo.example"
    site_ids: dict[int, tuple[str, str]] = field(default_factory=dict)  # number -> (forward, backward) ids

    def site_stop_ids(self, site: StopSite) -> tuple[str, str]:
        return self.site_ids.get(site.number) or (f"S{site.number:03d}A", f"S{site.number:03d}B")


@dataclass
class Call:
    stop_id: str
    dist_m: float
    dwell_s: int


def _calls(net: Network, line: Line, w: Walk) -> list[Call]:
    hubs = {h.node: h for h in net.hubs}
    sites_by_edge: dict[tuple[str, str], list[StopSite]] = {}
    for s in net.sites:
        sites_by_edge.setdefault(s.edge, []).append(s)
    calls: list[Call] = []
    nodes = w.nodes
    for i, node in enumerate(nodes):
        if node in line.hubs:
            if node not in hubs:
                raise ValueError(f"line {line.route_id}: node {node} has no hub stop")
            calls.append(Call(hubs[node].stop_id, w.node_dist_m[i], DWELL_HUB_S))
        if i + 1 == len(nodes):
            break
        edge, forward = net.graph.find_edge(node, nodes[i + 1])
        on_edge = sorted(sites_by_edge.get((edge.a, edge.b), []), key=lambda s: s.fraction if forward else -s.fraction)
        for site in on_edge:
            if site.number in line.skip:
                continue
            along = site.fraction if forward else 1.0 - site.fraction
            stop_id = net.site_stop_ids(site)[0 if forward else 1]
            dwell = DWELL_BUSY_S if site.busy >= 0.7 else DWELL_S
            calls.append(Call(stop_id, w.node_dist_m[i] + along * edge.length_m, dwell))
    if calls[0].dist_m > 1.0 or abs(calls[-1].dist_m - w.length_m) > 1.0:
        raise ValueError(f"line {line.route_id}: a direction must start and end at a hub")
    return calls


@dataclass
class Trip:
    trip_id: str
    line: Line
    service: Service
    direction: int
    start_s: int
    times: list[tuple[int, int]]  # (arrival_s, departure_s) per call
    block_id: str | None = None

    @property
    def end_s(self) -> int:
        return self.times[-1][0]


def _run(w: Walk, calls: list[Call], service: Service, start_s: int) -> list[tuple[int, int]]:
    times: list[tuple[int, int]] = []
    t = float(start_s)
    base = w.time_at(np.array([c.dist_m for c in calls]))
    for k, call in enumerate(calls):
        if k == 0:
            times.append((start_s, start_s))
            continue
        t += float(base[k] - base[k - 1]) * service.factor(t)
        arrival = round(t)
        dwell = 0 if k == len(calls) - 1 else round(call.dwell_s * (1.0 + 0.4 * (service.factor(t) - 1.0)))
        times.append((arrival, arrival + dwell))
        t = arrival + dwell
    return times


def _chain_blocks(trips: list[Trip], terminal: dict[str, tuple[str, str]], prefix: str) -> None:
    """First-in-first-out at each terminal; ``terminal[trip_id]`` is (start key, end key)."""
    waiting: dict[str, list[tuple[int, int, int]]] = {}  # key -> heap of (ready_s, arrival order, block)
    order = 0
    n_blocks = 0
    arrivals: list[tuple[int, int, str, int]] = []  # heap of (ready_s, order, terminal key, block)
    for trip in sorted(trips, key=lambda t: (t.start_s, t.direction)):
        start_key, end_key = terminal[trip.trip_id]
        while arrivals and arrivals[0][0] <= trip.start_s:
            ready, o, key, block = heapq.heappop(arrivals)
            heapq.heappush(waiting.setdefault(key, []), (ready, o, block))
        queue = waiting.get(start_key)
        if queue:
            _, _, block = heapq.heappop(queue)
        else:
            n_blocks += 1
            block = n_blocks
        trip.block_id = f"{prefix}-{block:02d}"
        order += 1
        heapq.heappush(arrivals, (trip.end_s + MIN_LAYOVER_S, order, end_key, block))


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


@dataclass
class Feed:
    """The GTFS files as (header, rows), in file order."""

    files: dict[str, tuple[list[str], list[list[object]]]] = field(default_factory=dict)

    def texts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (header, rows) in self.files.items():
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            out[name] = buf.getvalue()
        return out


def _fmt(v: float, digits: int = 6) -> str:
    return f"{v:.{digits}f}"


def build_feed(net: Network) -> Feed:
    proj = net.projection
    hubs_by_id = {h.stop_id: h for h in net.hubs}
    feed = Feed()
    translations: list[list[object]] = []

    feed.files["agency.txt"] = (
        ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
        [[net.agency_id, net.agency_name, net.agency_url, net.timezone, net.lang]],
    )
    translations.append(["agency", "agency_name", "en", net.agency_name_en, net.agency_id, "", ""])

    # ---- stops: each site has a stop per side of the road; hubs have one
    stop_rows: list[list[object]] = []
    for site in sorted(net.sites, key=lambda s: s.number):
        edge, _ = net.graph.find_edge(*site.edge)
        for side, forward in ((0, True), (1, False)):
            x, y = kerb_position(edge, site.fraction, forward)
            lat, lon = proj.to_latlon(x, y)
            stop_id = net.site_stop_ids(site)[side]
            code = f"1{site.number:03d}{side + 1}"
            stop_rows.append([stop_id, code, site.name, edge.road, _fmt(float(lat)), _fmt(float(lon)), 0])
            translations.append(["stops", "stop_name", "en", site.name_en, stop_id, "", ""])
    for i, hub in enumerate(sorted(net.hubs, key=lambda h: h.stop_id)):
        x, y = net.graph.nodes[hub.node]
        lat, lon = proj.to_latlon(x, y)
        stop_rows.append([hub.stop_id, f"2{i + 1:03d}0", hub.name, "", _fmt(float(lat)), _fmt(float(lon)), 0])
        translations.append(["stops", "stop_name", "en", hub.name_en, hub.stop_id, "", ""])
    feed.files["stops.txt"] = (
        ["stop_id", "stop_code", "stop_name", "stop_desc", "stop_lat", "stop_lon", "location_type"],
        sorted(stop_rows, key=lambda r: str(r[0])),
    )

    # ---- routes, shapes, trips
    route_rows: list[list[object]] = []
    shape_rows: list[list[object]] = []
    trip_rows: list[list[object]] = []
    st_rows: list[list[object]] = []
    freq_rows: list[list[object]] = []
    headsign_en: dict[str, str] = {}
    for order, line in enumerate(net.lines):
        route_rows.append([line.route_id, net.agency_id, line.short_name, line.name, 3, line.color, "FFFFFF",
                           order + 1])
        translations.append(["routes", "route_long_name", "en", line.name_en, line.route_id, "", ""])
        walks = [walk(net.graph, list(line.nodes)), walk(net.graph, list(reversed(line.nodes)))]
        line_trips: list[Trip] = []
        terminal: dict[str, tuple[str, str]] = {}
        heads: list[str] = []
        calls_of: list[list[Call]] = []
        for direction, w in enumerate(walks):
            shape_id = f"{line.route_id}-{direction}"
            lat, lon = proj.to_latlon(w.points[:, 0], w.points[:, 1])
            for k in range(len(w.points)):
                shape_rows.append([shape_id, _fmt(float(lat[k])), _fmt(float(lon[k])), k + 1,
                                   _fmt(float(w.cum_m[k]), 1)])
            calls = _calls(net, line, w)
            calls_of.append(calls)
            first, last = calls[0].stop_id, calls[-1].stop_id
            if line.loop:
                clockwise = _signed_area(w.points) < 0
                head = ("环线(顺时针)", "Loop (clockwise)") if clockwise else ("环线(逆时针)", "Loop (anticlockwise)")
                # a loop keeps its direction: buses wait for the next trip of the same direction
                first, last = f"{first}:{direction}", f"{last}:{direction}"
            else:
                hub = hubs_by_id[last]
                head = (hub.name, hub.name_en)
            heads.append(head[0])
            headsign_en[head[0]] = head[1]
            for service in net.services:
                profile = line.profiles.get(service.service_id)
                if profile is None:
                    continue
                offset = line.dir1_offset_min * 60 if direction == 1 else 0
                departures = profile.departures(offset)
                if line.frequency:
                    trip_id = f"{line.route_id}-{service.service_id}-{direction}"
                    times = _run(w, calls, service, departures[0])
                    _trip_rows(trip_rows, st_rows, Trip(trip_id, line, service, direction, departures[0], times),
                               shape_id, head[0], calls)
                    freq_rows.extend(_frequency_rows(trip_id, profile, offset))
                    continue
                for start in departures:
                    hhmm = format_gtfs_time(start)[:5].replace(":", "")
                    trip_id = f"{line.route_id}-{service.service_id}-{direction}-{hhmm}"
                    line_trips.append(Trip(trip_id, line, service, direction, start, _run(w, calls, service, start)))
                    terminal[trip_id] = (first, last)
        for service in net.services:
            _chain_blocks([t for t in line_trips if t.service is service], terminal,
                          f"{line.route_id}-{service.service_id}")
        for trip in sorted(line_trips, key=lambda t: t.trip_id):
            _trip_rows(trip_rows, st_rows, trip, f"{line.route_id}-{trip.direction}", heads[trip.direction],
                       calls_of[trip.direction])
    for zh, en in headsign_en.items():
        translations.append(["trips", "trip_headsign", "en", en, "", "", zh])

    feed.files["routes.txt"] = (
        ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type", "route_color",
         "route_text_color", "route_sort_order"], route_rows,
    )
    feed.files["trips.txt"] = (
        ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "block_id", "shape_id",
         "wheelchair_accessible"], trip_rows,
    )
    feed.files["stop_times.txt"] = (
        ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "pickup_type", "drop_off_type",
         "shape_dist_traveled", "timepoint"], st_rows,
    )
    feed.files["shapes.txt"] = (
        ["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"], shape_rows,
    )
    feed.files["calendar.txt"] = (
        ["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "start_date", "end_date"],
        [[s.service_id, *s.weekdays, s.start.strftime("%Y%m%d"), s.end.strftime("%Y%m%d")] for s in net.services],
    )
    date_rows = [[s.service_id, d.strftime("%Y%m%d"), 1] for s in net.services for d in s.added]
    date_rows += [[s.service_id, d.strftime("%Y%m%d"), 2] for s in net.services for d in s.removed]
    feed.files["calendar_dates.txt"] = (["service_id", "date", "exception_type"], sorted(date_rows))
    if freq_rows:
        feed.files["frequencies.txt"] = (
            ["trip_id", "start_time", "end_time", "headway_secs", "exact_times"], freq_rows,
        )
    feed.files["translations.txt"] = (
        ["table_name", "field_name", "language", "translation", "record_id", "record_sub_id", "field_value"],
        translations,
    )
    feed_start = min(s.start for s in net.services)
    feed_end = max(s.end for s in net.services)
    feed.files["feed_info.txt"] = (
        ["feed_publisher_name", "feed_publisher_url", "feed_lang", "default_lang", "feed_start_date",
         "feed_end_date", "feed_version"],
        [[net.publisher, net.publisher_url, net.lang, "en", feed_start.strftime("%Y%m%d"), feed_end.strftime("%Y%m%d"),
          net.feed_version]],
    )
    return feed


def _trip_rows(trip_rows: list[list[object]], st_rows: list[list[object]], trip: Trip, shape_id: str,
               headsign: str, calls: Sequence[Call]) -> None:
    line = trip.line
    trip_rows.append([line.route_id, trip.service.service_id, trip.trip_id, headsign, trip.direction,
                      trip.block_id or "", shape_id, 1])
    n = len(calls)
    for k, (call, (arr, dep)) in enumerate(zip(calls, trip.times, strict=True)):
        st_rows.append([trip.trip_id, format_gtfs_time(arr), format_gtfs_time(dep), call.stop_id, k + 1,
                        1 if k == n - 1 else 0, 1 if k == 0 else 0, _fmt(call.dist_m, 1), 1])


def _frequency_rows(trip_id: str, profile: Profile, offset_s: int) -> Iterable[list[object]]:
    starts = [parse_gtfs_time(p + ":00") + offset_s for p, _ in profile.periods]
    ends = [*starts[1:], parse_gtfs_time(profile.last + ":00") + offset_s + 1]
    for (_, headway), s, e in zip(profile.periods, starts, ends, strict=True):
        yield [trip_id, format_gtfs_time(s), format_gtfs_time(e), headway * 60, 0]
