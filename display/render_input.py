"""From the schedule and the shared arrivals to a board's lines (pure; no I/O).

A board lists the same lines whatever the time of day, in a fixed order (line number, then
destination), so rows do not jump around as buses come and go: the lines are every route and
destination that picks up at the board's stops in the timetable, and arrivals are sorted into
them.  A line with nothing coming shows its first or last bus instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from display.render_lines import BoardLine
from transit.core.arrivals import Arrival, RouteSpan
from transit.schedule.index import ScheduleIndex


@dataclass(frozen=True, slots=True)
class LineEntry:
    route_id: str
    route_short_name: str
    headsign: str
    headsign_en: str | None


def stop_lines(index: ScheduleIndex, stop_id: str) -> tuple[LineEntry, ...]:
    """Route + destination pairs that pick up passengers at ``stop_id`` (a trip's last call
    takes no one on board), in board order."""
    stop = index.find_stop(stop_id)
    if stop is None:
        return ()
    found: dict[tuple[str, str], LineEntry] = {}
    for row in index.stop_calls(stop).tolist():
        trip = int(index.st_trip[row])
        if row == int(index.trip_st_start[trip + 1]) - 1 or int(index.st_pickup[row]) == 1:
            continue
        route = int(index.trip_route[trip])
        headsign = index.trip_headsign[trip]
        key = (index.route_ids[route], headsign)
        if key not in found:
            found[key] = LineEntry(index.route_ids[route], index.route_short_name[route], headsign,
                                   index.trip_headsign_en[trip])
    return tuple(sorted(found.values(), key=lambda e: (natural_key(e.route_short_name), e.headsign)))


@functools.lru_cache(maxsize=4096)
def natural_key(text: str) -> tuple[object, ...]:
    """``"2" < "10" < "K1"``: digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.findall(r"\d+|\D+", text))


def board_lines(
    stop_ids: Sequence[str],
    route_ids: Collection[str],
    catalogue: Mapping[str, Sequence[LineEntry]],
    arrivals: Mapping[str, Sequence[Arrival]],
    spans: Mapping[str, Sequence[RouteSpan]],
) -> list[BoardLine]:
    """The board's lines, each with its arrivals and span.  ``route_ids`` empty means all."""
    wanted = set(route_ids)
    out: list[tuple[tuple[object, ...], BoardLine]] = []
    for stop_pos, stop_id in enumerate(stop_ids):
        entries = [e for e in catalogue.get(stop_id, ()) if not wanted or e.route_id in wanted]
        by_key: dict[tuple[str, str], list[Arrival]] = {(e.route_id, e.headsign): [] for e in entries}
        extra: dict[tuple[str, str], LineEntry] = {}
        for a in arrivals.get(stop_id, ()):
            if wanted and a.route_id not in wanted:
                continue
            key = (a.route_id, a.headsign)
            if key not in by_key:  # a trip the timetable catalogue did not foresee (added trip)
                by_key[key] = []
                extra[key] = LineEntry(a.route_id, a.route_short_name, a.headsign, a.headsign_en)
            by_key[key].append(a)
        span_of = {s.route_id: s for s in spans.get(stop_id, ())}
        for e in [*entries, *extra.values()]:
            span = span_of.get(e.route_id)
            order = (natural_key(e.route_short_name), e.route_id, stop_pos, e.headsign)
            out.append((order, BoardLine(
                stop_id=stop_id, route_id=e.route_id, route_short_name=e.route_short_name,
                headsign=e.headsign, headsign_en=e.headsign_en,
                arrivals=tuple(by_key[(e.route_id, e.headsign)]),
                first_ts=span.first_ts if span else None, last_ts=span.last_ts if span else None,
                next_first_ts=span.next_first_ts if span else None,
            )))
    # lines of one route sit together, both directions of a two-stop board side by side
    out.sort(key=lambda item: item[0])
    return [line for _, line in out]
