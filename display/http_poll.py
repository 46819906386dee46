"""``GET /boards/{board_id}/frame``: the polling endpoint every board controller calls.

This is the hot path (a city's boards poll every few seconds).  An unchanged frame costs a dict
lookup, a constant-time comparison with the key that passed the HMAC before, an in-memory
heartbeat and a string comparison before the 304, whose bytes were serialised with the page
(:mod:`transit.app.prepared`).  The endpoint is served ahead of aiohttp's router and middlewares
(:func:`transit.app.server.add_direct_get`), so it does their part itself: every error is JSON
naming the problem, and an unexpected one is logged and answered with the JSON 500.

A board authenticates with its key in ``X-Board-Key`` (or ``Authorization: Bearer``), or in
``?key=`` for controllers that cannot set headers.  It may send its firmware version in
``X-Board-Firmware`` or ``?fw=``.  It gets ``text/plain`` in its own encoding by default, or JSON
with ``Accept: application/json`` or ``?format=json``.
"""

from __future__ import annotations

from aiohttp import web

from display.boards import BOARDS, Boards
from display.frames import ServedPage
from transit.app.errors import internal_error, json_error
from transit.app.prepared import PreparedResponse
from transit.app.server import add_direct_get

_TEXT_TYPES = {"GB2312": "text/plain; charset=GB2312", "GBK": "text/plain; charset=GBK",
               "UTF-8": "text/plain; charset=utf-8"}
JSON_TYPE = "application/json; charset=utf-8"

#: (200 reply, 304 reply, ETag) of a page, in :attr:`ServedPage.memo` under "text" or "json"
_Replies = tuple[PreparedResponse, PreparedResponse, str]


def _etag_matches(header: str, etag: str) -> bool:
    if header == etag:
        return True
    bare = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate[2:] if candidate.startswith("W/") else candidate) == bare:
            return True
    return False


def _firmware(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) <= 64 and value.isprintable():
        return value
    value = "".join(ch for ch in value[:64] if ch.isprintable())
    return value or None


def _client_ip(request: web.Request, boards: Boards) -> str | None:
    if boards.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote


def _replies(page: ServedPage, body: bytes, etag: str, content_type: str) -> _Replies:
    """Serialised once per page and format; every poll of the page is answered with one of them."""
    board = page.board
    full = PreparedResponse(200, {
        "ETag": etag, "Cache-Control": "no-cache", "Content-Type": content_type, "Vary": "Accept",
        "X-Board-Page": f"{page.page + 1}/{page.n_pages}", "X-Board-Poll-Interval": f"{board.poll_interval_s:g}"},
        body)
    return full, PreparedResponse(304, {"ETag": etag, "Cache-Control": "no-cache"}), etag


#: Text replies by everything they are made of.  Boards at the same stop with the same layout show
#: the same page (the text ETag covers the bytes and the page number), so after a new snapshot
#: the replies are built once per distinct page rather than once per board.
_TextKey = tuple[str, str, int, int, float]
_shared_text: dict[_TextKey, _Replies] = {}
_SHARED_MAX = 50_000


def _text_replies(page: ServedPage) -> _Replies:
    board = page.board
    key = (page.etag_text, board.encoding, page.page, page.n_pages, board.poll_interval_s)
    replies = _shared_text.get(key)
    if replies is None:
        if len(_shared_text) >= _SHARED_MAX:
            _shared_text.clear()
        replies = _shared_text[key] = _replies(page, page.text, page.etag_text, _TEXT_TYPES[board.encoding])
    return replies


class FramePolls:
    """The endpoint, bound to the component once (nothing is looked up in the app per poll)."""

    def __init__(self, boards: Boards) -> None:
        self._boards = boards

    async def get_frame(self, request: web.Request) -> web.StreamResponse:
        """The routed form (HEAD, and paths the direct dispatch leaves to the router)."""
        return await self.poll(request, request.match_info["board_id"])

    async def poll(self, request: web.Request, board_id: str) -> web.StreamResponse:
        boards = self._boards
        counts = boards.metrics.polls.counts
        try:
            board = boards.registry.get(board_id)
            if board is None:
                counts["404"] += 1
                boards.metrics.reject("poll", "unknown_board")
                raise json_error(404, "unknown_board", f"unknown board {board_id!r}", board_id=board_id)
            headers = request.headers
            key = headers.get("X-Board-Key")
            query = request.query if request.query_string else None
            if key is None:
                auth = headers.get("Authorization")
                if auth is not None and auth[:7].lower() == "bearer ":
                    key = auth[7:].strip()
                elif query is not None:
                    key = query.get("key")
            if not boards.key_accepted(board, key):
                counts["401"] += 1
                boards.metrics.reject("poll", "not_authenticated")
                raise json_error(401, "unauthorized",
                                 "a valid board key is required (X-Board-Key header or ?key=)", board_id=board_id)

            now = boards.clock.now()
            firmware = headers.get("X-Board-Firmware") or (query.get("fw") if query is not None else None)
            ip = _client_ip(request, boards) if boards.trust_forwarded_for else request.remote
            boards.health.record_poll(board, now, ip, _firmware(firmware) if firmware else None)

            fmt = query.get("format") if query is not None else None
            if fmt is None:
                accept = headers.get("Accept")
                as_json = accept is not None and "application/json" in accept
            elif fmt == "json" or fmt == "text":
                as_json = fmt == "json"
            else:
                boards.metrics.reject("poll", "bad_value")
                counts["400"] += 1
                raise json_error(400, "bad_parameter", f"parameter format: expected json or text, got {fmt!r}",
                                 parameter="format")
            page = boards.frames.get_page(board, now, advance=True)
            memo = page.memo
            if as_json:
                replies: _Replies | None = memo.get("json")
                if replies is None:
                    body, etag = page.json_body(boards.frames.tz)
                    replies = memo["json"] = _replies(page, body, etag, JSON_TYPE)
            else:
                replies = memo.get("text")
                if replies is None:
                    replies = memo["text"] = _text_replies(page)
            etag = replies[2]
            inm = headers.get("If-None-Match")
            if inm is not None and (inm == etag or _etag_matches(inm, etag)):
                counts["304"] += 1
                reply = replies[1]
            else:
                counts["200"] += 1
                reply = replies[0]
            return reply.respond(request)
        except web.HTTPException:
            raise
        except Exception:
            raise internal_error(request) from None


def add_routes(app: web.Application) -> None:
    polls = FramePolls(app[BOARDS])  # type: ignore[arg-type]
    app.router.add_get("/boards/{board_id}/frame", polls.get_frame)
    add_direct_get(app, "/boards/", "/frame", polls.poll)
