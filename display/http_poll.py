"""``GET /boards/{board_id}/frame``: the polling endpoint every board controller calls.

This is the hot path (a city's boards poll every few seconds), so an unchanged frame costs a dict
lookup, one HMAC, an in-memory heartbeat and a string comparison before the 304.

A board authenticates with its key in ``X-Board-Key`` (or ``Authorization: Bearer``), or in
``?key=`` for controllers that cannot set headers.  It may send its firmware version in
``X-Board-Firmware`` or ``?fw=``.  It gets ``text/plain`` in its own encoding by default, or JSON
with ``Accept: application/json`` or ``?format=json``.
"""

from __future__ import annotations

from aiohttp import web

from display.boards import BOARDS, Boards
from transit.app.errors import json_error

_TEXT_TYPES = {"GB2312": "text/plain; charset=GB2312", "GBK": "text/plain; charset=GBK",
               "UTF-8": "text/plain; charset=utf-8"}
JSON_TYPE = "application/json; charset=utf-8"


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
    value = "".join(ch for ch in value[:64] if ch.isprintable())
    return value or None


def _client_ip(request: web.Request, boards: Boards) -> str | None:
    if boards.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote


async def get_frame(request: web.Request) -> web.StreamResponse:
    boards: Boards = request.app[BOARDS]  # type: ignore[assignment]
    board_id = request.match_info["board_id"]
    board = boards.registry.get(board_id)
    if board is None:
        boards.metrics.polls.counts["404"] += 1
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
        boards.metrics.polls.counts["401"] += 1
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
        fmt = "json" if accept is not None and "application/json" in accept else "text"
    elif fmt not in ("json", "text"):
        boards.metrics.reject("poll", "bad_value")
        boards.metrics.polls.counts["400"] += 1
        raise json_error(400, "bad_parameter", f"parameter format: expected json or text, got {fmt!r}",
                         parameter="format")
    page = boards.frames.get_page(board, now, advance=True)
    if fmt == "json":
        body, etag = page.json_body(boards.frames.tz)
        content_type = JSON_TYPE
    else:
        body, etag = page.text, page.etag_text
        content_type = _TEXT_TYPES[board.encoding]
    inm = headers.get("If-None-Match")
    if inm is not None and (inm == etag or _etag_matches(inm, etag)):
        boards.metrics.polls.counts["304"] += 1
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    boards.metrics.polls.counts["200"] += 1
    return web.Response(body=body, headers={
        "ETag": etag, "Cache-Control": "no-cache", "Content-Type": content_type, "Vary": "Accept",
        "X-Board-Page": f"{page.page + 1}/{page.n_pages}", "X-Board-Poll-Interval": f"{board.poll_interval_s:g}"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/boards/{board_id}/frame", get_frame)
