"""Rendering a board's frame: lines into rows and pages, languages, operator messages.

Pure: no I/O, ``now`` is an argument, and what the board showed last comes in as a
:class:`BoardMemory` and goes out as a new one (the caller keeps it per board).  The frame holds
every page; which page a poll gets is :func:`select_page`'s business, so a frame is rendered once
per input change however often the board polls.

Row: ``{line}路 {destination}`` on the left, the state on the right (``3站 5分``, ``即将到站``,
``计划 08:05`` ...), padded to the board's width in cells; the destination is cut first when
space runs out, never half a character.  A Chinese-and-English board shows each line as a
Chinese row followed by its English row; a one-row board alternates them page by page.

Operator messages use the last row of every page (``message_mode="row"``, long text continues
from page to page) or whole pages of their own before the lines (``"page"``).
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field

from display.render_lines import BoardLine, LineMemories, LineParams, LineStatus, LineView, view_lines
from display.render_text import board_text, cells, cut, pad, wrap

#: A frame is rendered again after this long even if nothing seems to change it (a safety net:
#: a new bus entering the time window shows up within this time).
MAX_FRAME_AGE_S = 30.0


@dataclass(frozen=True, slots=True)
class Layout:
    rows: int
    cols: int
    encoding: str = "GB2312"  # GB2312, GBK or UTF-8
    languages: str = "zh"  # "zh" or "zh+en"
    paging: bool = True
    message_mode: str = "row"  # "row" or "page"


@dataclass(frozen=True, slots=True)
class BoardMessage:
    """An operator message (e.g. 道路施工 临时改道) shown from ``starts_ts`` until ``ends_ts``."""

    message_id: int
    text: str
    text_en: str | None
    starts_ts: float
    ends_ts: float
    scope: str = "all"  # "board", "route" or "all"
    target: str | None = None

    def active(self, now: float) -> bool:
        return self.starts_ts <= now < self.ends_ts


@dataclass(frozen=True, slots=True)
class RenderParams:
    lines: LineParams = field(default_factory=LineParams)
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class BoardMemory:
    """Per-board state between renders: the line memories and the page being shown."""

    lines: LineMemories = ()
    page: int = 0
    #: When the current page went up (None: nothing shown yet).
    page_ts: float | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    layout: Layout
    pages: tuple[tuple[str, ...], ...]
    lines: tuple[LineView, ...]
    messages: tuple[BoardMessage, ...]
    rendered_ts: float
    #: With the same input, the frame stays right until this moment (at most MAX_FRAME_AGE_S).
    valid_until_ts: float = float("inf")


# ---------------------------------------------------------------------------------------- text

def _clock(ts: float, tz: zoneinfo.ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M")


def route_label(short_name: str) -> str:
    """``1`` → ``1路``; names already ending in 路 or 线, or Chinese names, stay as they are."""
    if short_name.endswith(("路", "线")) or not short_name.isascii():
        return short_name
    return short_name + "路"


def status_zh(v: LineView, tz: zoneinfo.ZoneInfo) -> tuple[str, ...]:
    """The state in Chinese, longest form first; a narrow board takes the first that fits."""
    if v.status == LineStatus.AT_STOP:
        if v.departs_ts is not None:
            leaves = _clock(v.departs_ts, tz)
            return (f"已到站 {leaves}发车", f"{leaves}发车", "已到站")
        return ("已到站",)
    if v.status == LineStatus.ARRIVING:
        return ("即将到站", "进站")
    if v.status == LineStatus.REALTIME:
        return ((f"{v.stops_away}站 {v.minutes}分", f"{v.minutes}分") if v.stops_away else (f"{v.minutes}分",))
    if v.status == LineStatus.SCHEDULED and v.time_ts is not None:
        return (f"计划 {_clock(v.time_ts, tz)}", f"计划{_clock(v.time_ts, tz)}")
    if v.status == LineStatus.BEFORE_SERVICE and v.time_ts is not None:
        return (f"首班 {_clock(v.time_ts, tz)}", f"首班{_clock(v.time_ts, tz)}")
    if v.status == LineStatus.AFTER_LAST:
        if v.next_first_ts:
            first = _clock(v.next_first_ts, tz)
            return (f"末班车已过 明日首班 {first}", f"末班车已过 首班{first}", "末班车已过", "末班已过")
        return ("末班车已过", "末班已过")
    return ("暂无车辆", "暂无")


def status_en(v: LineView, tz: zoneinfo.ZoneInfo) -> tuple[str, ...]:
    if v.status == LineStatus.AT_STOP:
        if v.departs_ts is not None:
            leaves = _clock(v.departs_ts, tz)
            return (f"At stop, leaves {leaves}", f"Leaves {leaves}", "Here")
        return ("At stop", "Here")
    if v.status == LineStatus.ARRIVING:
        return ("Arriving", "Due")
    if v.status == LineStatus.REALTIME:
        if v.stops_away:
            return (f"{v.stops_away} stop{'s' if v.stops_away != 1 else ''} {v.minutes} min", f"{v.minutes} min",
                    f"{v.minutes}m")
        return (f"{v.minutes} min", f"{v.minutes}m")
    if v.status == LineStatus.SCHEDULED and v.time_ts is not None:
        return (f"Sched {_clock(v.time_ts, tz)}", f"S {_clock(v.time_ts, tz)}")
    if v.status == LineStatus.BEFORE_SERVICE and v.time_ts is not None:
        return (f"First bus {_clock(v.time_ts, tz)}", f"First {_clock(v.time_ts, tz)}")
    if v.status == LineStatus.AFTER_LAST:
        if v.next_first_ts:
            first = _clock(v.next_first_ts, tz)
            return (f"Last bus gone, first {first}", f"Last gone, 1st {first}", "Last bus gone", "No more")
        return ("Last bus gone", "No more")
    return ("No bus now", "None")


#: A destination keeps at least this many cells before the state is shortened.
MIN_DESTINATION_CELLS = 4


def fit_row(label: str, destination: str, states: tuple[str, ...], cols: int) -> str:
    """``label destination ... state`` in exactly ``cols`` cells.

    The longest form of the state that still leaves the destination a few cells is taken; the
    destination is then cut to what remains; the line label is never dropped.
    """
    want_dest = min(cells(destination), MIN_DESTINATION_CELLS)
    state = states[-1]
    for candidate in states:
        if cells(label) + 1 + want_dest + (1 if want_dest else 0) + cells(candidate) <= cols:
            state = candidate
            break
    else:
        for candidate in states:
            if cells(label) + 1 + cells(candidate) <= cols:
                state = candidate
                break
    room = cols - cells(state) - 1
    if cells(label) > room:  # not even the label fits beside the state: shorten the state
        label = cut(label, cols)
        state = cut(state, cols - cells(label) - 1)
        left = label
    else:
        dest_room = room - cells(label) - 1
        left = (label + " " + cut(destination, dest_room)).rstrip() if dest_room > 0 else label
    return pad(left + " " * max(0, cols - cells(left) - cells(state)) + state, cols)


@functools.lru_cache(maxsize=65536)
def line_rows(v: LineView, layout: Layout, tz: zoneinfo.ZoneInfo) -> tuple[str, ...]:
    """The row(s) of one line: Chinese, plus English on a bilingual board."""
    enc = layout.encoding
    zh = fit_row(board_text(route_label(v.route_short_name), enc), board_text(v.headsign, enc),
                 tuple(board_text(t, enc) for t in status_zh(v, tz)), layout.cols)
    if layout.languages != "zh+en":
        return (zh,)
    en = fit_row(board_text(v.route_short_name, enc), board_text(v.headsign_en or v.headsign, enc),
                 tuple(board_text(t, enc) for t in status_en(v, tz)), layout.cols)
    return (zh, en)


# ---------------------------------------------------------------------------------------- pages

def _blank(layout: Layout) -> str:
    return " " * layout.cols


def _line_pages(groups: list[tuple[str, ...]], rows: int, layout: Layout) -> list[list[str]]:
    """Chunk line groups (one row, or a Chinese/English pair) into pages of ``rows`` rows,
    never splitting a pair unless a page has a single row."""
    if rows <= 0:
        return []
    flat_pairs = rows < 2 and any(len(g) > 1 for g in groups)
    if flat_pairs:
        groups = [(row,) for g in groups for row in g]
    pages: list[list[str]] = []
    current: list[str] = []
    for g in groups:
        if current and len(current) + len(g) > rows:
            pages.append(current)
            current = []
        current.extend(g)
    if current:
        pages.append(current)
    for page in pages:
        page.extend(_blank(layout) for _ in range(rows - len(page)))
    return pages


def _message_text(messages: Sequence[BoardMessage], layout: Layout) -> tuple[str, str | None]:
    zh = "　".join(m.text for m in messages)
    en = "  ".join(m.text_en for m in messages if m.text_en) or None
    return board_text(zh, layout.encoding), (board_text(en, layout.encoding) if en else None)


def compose_pages(views: Sequence[LineView], messages: Sequence[BoardMessage], layout: Layout,
                  tz: zoneinfo.ZoneInfo) -> list[tuple[str, ...]]:
    """Every page of the frame, each exactly ``layout.rows`` rows of ``layout.cols`` cells.

    Boards at one stop mostly show the same lines the same way, so pages are memoised on their
    inputs (all immutable values)."""
    return list(_compose(tuple(views), tuple(messages), layout, tz))


@functools.lru_cache(maxsize=8192)
def _compose(views: tuple[LineView, ...], messages: tuple[BoardMessage, ...], layout: Layout,
             tz: zoneinfo.ZoneInfo) -> tuple[tuple[str, ...], ...]:
    return tuple(_compose_uncached(views, messages, layout, tz))


def _compose_uncached(views: Sequence[LineView], messages: Sequence[BoardMessage], layout: Layout,
                      tz: zoneinfo.ZoneInfo) -> list[tuple[str, ...]]:
    groups = [line_rows(v, layout, tz) for v in views]
    if not groups:
        empty = ("暂无公交信息",) if layout.languages != "zh+en" else ("暂无公交信息", "No bus information")
        groups = [tuple(pad(board_text(t, layout.encoding), layout.cols) for t in empty)]
    if not messages:
        pages = _line_pages(groups, layout.rows, layout)
        return [tuple(p) for p in (pages if layout.paging else pages[:1])]

    zh, en = _message_text(messages, layout)
    texts = [zh] + ([en] if en and layout.languages == "zh+en" else [])
    use_row = layout.message_mode == "row" and layout.rows > 1
    if use_row:
        chunks = [pad(c, layout.cols) for t in texts for c in wrap(t, layout.cols)]
        line_pages = _line_pages(groups, layout.rows - 1, layout)
        if not layout.paging:
            return [tuple([*line_pages[0], chunks[0]])]
        n = max(len(line_pages), len(chunks))
        return [tuple([*line_pages[i % len(line_pages)], chunks[i % len(chunks)]]) for i in range(n)]

    message_pages: list[list[str]] = []
    for t in texts:
        wrapped = [pad(c, layout.cols) for c in wrap(t, layout.cols)]
        for i in range(0, len(wrapped), layout.rows):
            page = wrapped[i:i + layout.rows]
            page.extend(_blank(layout) for _ in range(layout.rows - len(page)))
            message_pages.append(page)
    if not layout.paging:
        return [tuple(message_pages[0])]
    return [tuple(p) for p in message_pages + _line_pages(groups, layout.rows, layout)]


# ---------------------------------------------------------------------------------------- frame

def render_frame(lines: Sequence[BoardLine], messages: Sequence[BoardMessage], layout: Layout,
                 memory: BoardMemory | None, now: float,
                 params: RenderParams | None = None) -> tuple[Frame, BoardMemory]:
    """Render every page of a board's frame at ``now``; returns the frame and the new memory
    (the page state is carried over unchanged: see :func:`select_page`)."""
    params = params or RenderParams()
    memory = memory or BoardMemory()
    tz = zoneinfo.ZoneInfo(params.timezone)  # (ZoneInfo caches its instances: same key, same object)
    views, kept, change = view_lines(list(lines), memory.lines, now, params.lines)
    active = tuple(sorted((m for m in messages if m.active(now)),
                          key=lambda m: ({"board": 0, "route": 1}.get(m.scope, 2), m.starts_ts, m.message_id)))
    for m in messages:
        change = min(change, *(t for t in (m.starts_ts, m.ends_ts) if t > now), now + MAX_FRAME_AGE_S)
    pages = compose_pages(views, active, layout, tz)
    frame = Frame(layout, tuple(pages), tuple(views), active, now, min(change, now + MAX_FRAME_AGE_S))
    return frame, BoardMemory(kept, memory.page, memory.page_ts)


def select_page(memory: BoardMemory, n_pages: int, now: float, *, advance: bool,
                min_page_s: float) -> BoardMemory:
    """The page to show: a poll (``advance``) moves to the next page once the current one has
    been up for ``min_page_s``, so a board retrying quickly does not skip pages."""
    if memory.page_ts is None:
        return BoardMemory(memory.lines, 0, now)
    if n_pages <= 1:
        return memory if memory.page == 0 else BoardMemory(memory.lines, 0, now)
    page = memory.page % n_pages
    if advance and now - memory.page_ts >= min_page_s:
        return BoardMemory(memory.lines, (page + 1) % n_pages, now)
    return memory if page == memory.page else BoardMemory(memory.lines, page, memory.page_ts)
