"""Frames as served: rendered once per input change, encoded once per page, cheap to re-serve.

A board's frame depends on the predictions snapshot, the schedule, the board's configuration, the
operator messages and the time.  The frame is re-rendered only when one of those changed (for
time, the renderer says until when its frame stays right: the next minute tick, bus departure,
message start or end), and each page is encoded (text bytes, JSON, ETags) once;
a poll that finds nothing changed costs a tuple comparison.  The arrivals at a stop are computed
once per snapshot and time step and shared by every board at that stop (memoised on the snapshot
with :meth:`Snapshot.derived`), for the polling endpoint and the MQTT publisher alike.

The anti-flapping memory and the page each board is on live here, one :class:`BoardMemory` per
board, handed to the pure renderer and taken back.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from display.messages import MessageBook
from display.registry import Board
from display.render import BoardMemory, Frame, RenderParams, render_frame, select_page
from display.render_input import LineEntry, board_lines, stop_lines
from display.render_lines import BoardLine, LineParams, LineView
from display.render_text import encode_rows
from transit.core.arrivals import Arrival, RouteSpan, list_arrivals, route_spans
from transit.core.clock import Clock
from transit.core.snapshot import Snapshot, SnapshotSource
from transit.schedule.holder import ScheduleHolder
from transit.schedule.index import ScheduleIndex

#: Arrivals at a stop are recomputed at least this often when the snapshot does not change.
ARRIVALS_STEP_S = 15.0
HORIZON_S = 5400.0


@dataclass(frozen=True, slots=True)
class ServedPage:
    """One page of a frame, encoded for the wire."""

    board: Board
    frame: Frame
    page: int
    text: bytes  # rows in the board's encoding, each ending in "\n"
    etag_text: str
    #: when this page of the frame was first encoded (a paging board comes back to it until the
    #: next render)
    generated_ts: float
    _json: list[bytes | str] = field(default_factory=list, compare=False, repr=False)
    #: What an edge derives from this page once and serves many times (the HTTP poll keeps its
    #: prebuilt response headers here), by name.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_pages(self) -> int:
        return len(self.frame.pages)

    @property
    def rows(self) -> tuple[str, ...]:
        return self.frame.pages[self.page]

    def json_body(self, tz: zoneinfo.ZoneInfo) -> tuple[bytes, str]:
        """(JSON body, weak ETag).  The ETag covers the content, not ``generated_at``."""
        if not self._json:
            content = frame_json(self.board, self.frame, self.page, tz)
            digest = hashlib.blake2b(json.dumps(content, ensure_ascii=False, sort_keys=True).encode(),
                                     digest_size=12).hexdigest()
            content["generated_at"] = dt.datetime.fromtimestamp(self.generated_ts, tz).isoformat(
                timespec="seconds")
            self._json.extend([json.dumps(content, ensure_ascii=False).encode(), f'W/"j{digest}"'])
        return self._json[0], self._json[1]  # type: ignore[return-value]


def _iso_minute(ts: float | None, tz: zoneinfo.ZoneInfo) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts // 60 * 60, tz).isoformat()


def _hh_mm(ts: float | None, tz: zoneinfo.ZoneInfo) -> str | None:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M") if ts is not None else None


def line_json(v: LineView, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "stop_id": v.stop_id, "route_id": v.route_id, "route": v.route_short_name, "headsign": v.headsign,
        "headsign_en": v.headsign_en, "status": str(v.status), "minutes": v.minutes,
        "stops_away": v.stops_away,
        "time": _hh_mm(v.time_ts, tz),
        "arrival": _iso_minute(v.time_ts, tz),
        "first_bus_tomorrow": _iso_minute(v.next_first_ts, tz),
        "departs": _hh_mm(v.departs_ts, tz),
        "realtime": v.status in ("at_stop", "arriving", "realtime"),
        "trip_id": v.trip_id, "vehicle_id": v.vehicle_id,
    }


def frame_json(board: Board, frame: Frame, page: int, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "board_id": board.board_id, "page": page, "pages": len(frame.pages), "rows": list(frame.pages[page]),
        "layout": {"rows": board.rows, "cols": board.cols, "encoding": board.encoding,
                   "languages": board.languages},
        "arrivals": [line_json(v, tz) for v in frame.lines],
        "messages": [{"message_id": m.message_id, "text": m.text, "text_en": m.text_en,
                      "ends_at": dt.datetime.fromtimestamp(m.ends_ts, tz).isoformat(timespec="seconds")}
                     for m in frame.messages],
    }


@functools.lru_cache(maxsize=16384)
def _encoded(rows: tuple[str, ...], encoding: str, page: int, n_pages: int) -> tuple[bytes, str]:
    """A page's bytes and strong ETag (the same page of many boards is encoded once)."""
    text = encode_rows(rows, encoding)
    digest = hashlib.blake2b(text, digest_size=12)
    digest.update(f"{page}/{n_pages}".encode())
    return text, f'"t{digest.hexdigest()}"'


@dataclass(slots=True)
class _BoardSlot:
    board: Board | None = None
    #: the inputs the frame was rendered from: the snapshot object and the generation count
    snapshot: Snapshot | None = None
    generation: int = -1
    frame: Frame | None = None
    memory: BoardMemory = field(default_factory=BoardMemory)
    served: ServedPage | None = None
    #: the pages of ``frame`` encoded so far: a paging board cycles through them until the next
    #: render, and each keeps its encoded body and prebuilt response headers
    pages: dict[int, ServedPage] = field(default_factory=dict)
    renders: int = 0


@dataclass
class _StopArrivals:
    """Per snapshot: the arrivals at each stop, and the lines of each stop set, by time step."""

    by_stop: dict[str, tuple[int, list[Arrival]]] = field(default_factory=dict)
    lines: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[int, dt.date, list[BoardLine]]] = field(
        default_factory=dict)


class FrameService:
    def __init__(self, snapshots: SnapshotSource, schedule: ScheduleHolder, messages: MessageBook,
                 clock: Clock, *, arriving_s: float = 60.0, stale_s: float = 180.0,
                 timezone: str = "Asia/Shanghai") -> None:
        self._snapshots = snapshots
        self._schedule = schedule
        self._messages = messages
        self._clock = clock
        self.tz = zoneinfo.ZoneInfo(timezone)
        self._params = RenderParams(LineParams(arriving_s=arriving_s, stale_s=stale_s), timezone)
        self._slots: dict[str, _BoardSlot] = {}
        self._catalogue: dict[str, tuple[LineEntry, ...]] = {}
        self._spans: dict[tuple[str, dt.date], list[RouteSpan]] = {}
        self._index_seen: ScheduleIndex | None = None
        self.renders = 0
        self.stop_computations = 0
        self._shared: dict[tuple[Any, ...], tuple[list[BoardLine], Frame, Any]] = {}
        self._shared_at = 0.0
        self._generation = 0
        schedule.subscribe(lambda _index: self.changed())
        messages.subscribe(self.changed)
        #: Called after each render (the component counts them in /metrics).
        self.on_render: Callable[[], None] | None = None

    # ------------------------------------------------------------------ inputs
    def _sync_index(self, index: ScheduleIndex | None) -> None:
        if index is not self._index_seen:
            self._catalogue.clear()
            self._spans.clear()
            self._index_seen = index

    def lines_at(self, index: ScheduleIndex, stop_id: str) -> tuple[LineEntry, ...]:
        found = self._catalogue.get(stop_id)
        if found is None:
            found = self._catalogue[stop_id] = stop_lines(index, stop_id)
        return found

    def routes_of(self, board: Board) -> set[str]:
        """The routes a board shows: its own list, or every route at its stops."""
        if board.route_ids:
            return set(board.route_ids)
        index = self._schedule.current()
        if index is None:
            return set()
        self._sync_index(index)
        return {e.route_id for s in board.stop_ids for e in self.lines_at(index, s)}

    def _cache(self, snapshot: Snapshot, index: ScheduleIndex) -> _StopArrivals:
        return snapshot.derived(("display.stop_arrivals", index.feed_id), lambda _s: _StopArrivals())

    def _lines(self, snapshot: Snapshot, index: ScheduleIndex, board: Board, now: float) -> list[BoardLine]:
        """The board's lines with their arrivals: shared by every board with the same stops and
        routes, per snapshot and time step."""
        cache = self._cache(snapshot, index)
        step = int(now // ARRIVALS_STEP_S)
        day = dt.datetime.fromtimestamp(now, self.tz).date()
        key = (board.stop_ids, board.route_ids)
        hit = cache.lines.get(key)
        if hit is not None and hit[0] == step and hit[1] == day:
            return hit[2]
        catalogue = {s: self.lines_at(index, s) for s in board.stop_ids}
        arrivals = {s: self._arrivals(snapshot, index, s, now) for s in board.stop_ids}
        spans = {s: self._route_spans(index, s, now) for s in board.stop_ids}
        lines = board_lines(board.stop_ids, board.route_ids, catalogue, arrivals, spans)
        cache.lines[key] = (step, day, lines)
        return lines

    def _arrivals(self, snapshot: Snapshot, index: ScheduleIndex, stop_id: str, now: float) -> list[Arrival]:
        cache = self._cache(snapshot, index)
        step = int(now // ARRIVALS_STEP_S)
        hit = cache.by_stop.get(stop_id)
        if hit is not None and hit[0] == step:
            return hit[1]
        start = step * ARRIVALS_STEP_S
        try:
            # from the start of the step, and long enough to cover the whole step; the renderer
            # applies its own `now` (passed buses, staleness) on top
            found = list_arrivals(snapshot, index, stop_id, start, horizon_s=HORIZON_S + ARRIVALS_STEP_S,
                                  stale_s=self._params.lines.stale_s + ARRIVALS_STEP_S)
        except LookupError:
            found = []
        self.stop_computations += 1
        cache.by_stop[stop_id] = (step, found)
        return found

    def _route_spans(self, index: ScheduleIndex, stop_id: str, now: float) -> list[RouteSpan]:
        day = dt.datetime.fromtimestamp(now, self.tz).date()
        found = self._spans.get((stop_id, day))
        if found is None:
            try:
                found = route_spans(index, stop_id, now)
            except LookupError:
                found = []
            if len(self._spans) > 50_000:
                self._spans.clear()
            self._spans[(stop_id, day)] = found
        return found

    # ------------------------------------------------------------------ frames
    def render(self, board: Board, now: float, memory: BoardMemory | None = None) -> tuple[Frame, BoardMemory]:
        """Render ``board`` at ``now`` from the current snapshot and schedule (pure given them)."""
        snapshot = self._snapshots.current()
        index = self._schedule.current()
        self._sync_index(index)
        lines = self._lines(snapshot, index, board, now) if index is not None else []
        messages = self._messages.for_board(board.board_id, self.routes_of(board), now)
        memory = memory or BoardMemory()
        # Boards with the same stops, layout, messages and memory show the same frame: within a
        # second, render it once for all of them.
        at = float(math.floor(now))
        if at != self._shared_at:
            self._shared.clear()
            self._shared_at = at
        layout = board.layout
        key = (id(lines), messages, layout, memory.lines)
        hit = self._shared.get(key)
        if hit is not None and hit[0] is lines:
            return hit[1], BoardMemory(hit[2], memory.page, memory.page_ts)
        self.renders += 1
        if self.on_render is not None:
            self.on_render()
        frame, new_memory = render_frame(lines, messages, layout, memory, at, self._params)
        self._shared[key] = (lines, frame, new_memory.lines)
        return frame, new_memory

    def changed(self) -> None:
        """The schedule or the messages changed: every frame is to be rendered again.  (What every
        frame depends on besides the board and the time is the snapshot and this count.)"""
        self._generation += 1

    def get_page(self, board: Board, now: float, *, advance: bool) -> ServedPage:
        """The page a board is to show now.  ``advance``: this is a poll (or a push at the board's
        interval), so a paging board moves on to its next page."""
        # the hot path of every poll: a few identity and number comparisons, no allocation
        slot = self._slots.get(board.board_id)
        if slot is None:
            slot = self._slots[board.board_id] = _BoardSlot()
        snapshot = self._snapshots.current()
        frame = slot.frame
        if (frame is None or slot.snapshot is not snapshot or slot.generation != self._generation
                or slot.board is not board or not frame.rendered_ts <= now < frame.valid_until_ts):
            frame, slot.memory = self.render(board, now, slot.memory)
            slot.frame, slot.snapshot, slot.generation, slot.board, slot.served = (
                frame, snapshot, self._generation, board, None)
            slot.pages = {}
            slot.renders += 1
        served = slot.served
        n_pages = len(frame.pages)
        if served is not None and n_pages == 1 and slot.memory.page_ts is not None:
            return served  # one page, already shown: nothing to move on
        memory = select_page(slot.memory, n_pages, now, advance=advance, min_page_s=board.poll_interval_s * 0.5)
        if served is None or memory.page != served.page:
            page = memory.page % n_pages
            served = slot.pages.get(page)
            if served is None:
                served = slot.pages[page] = self._encode(board, frame, page, now)
            slot.served = served
        slot.memory = memory
        return served

    def peek(self, board: Board) -> ServedPage | None:
        """What the board was last given, without touching its state (preview pages)."""
        slot = self._slots.get(board.board_id)
        return slot.served if slot is not None else None

    def preview(self, board: Board, now: float) -> Frame:
        """A fresh render for a preview, from the board's memory but without changing it."""
        slot = self._slots.get(board.board_id)
        frame, _ = self.render(board, now, slot.memory if slot else None)
        return frame

    def _encode(self, board: Board, frame: Frame, page: int, now: float) -> ServedPage:
        text, etag = _encoded(frame.pages[page], board.encoding, page, len(frame.pages))
        return ServedPage(board, frame, page, text, etag, now)

    def forget(self, keep: Sequence[str]) -> None:
        """Drop state of boards no longer registered."""
        wanted = set(keep)
        for board_id in [b for b in self._slots if b not in wanted]:
            del self._slots[board_id]

    def statistics(self) -> dict[str, Any]:
        return {"boards": len(self._slots), "renders": self.renders,
                "stop_computations": self.stop_computations, "catalogue_stops": len(self._catalogue)}
