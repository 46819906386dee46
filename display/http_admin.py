"""Admin API for boards under ``/api/v1/admin/boards`` (admin token), and the admin pages' guard.

Boards: list, create, read, update, retire, rotate a key, import a CSV.  Messages: list, create,
end.  Coverage: the online share of each board over a period, and a board's offline periods.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from aiohttp import web

from display.board_spec import parse_spec
from display.boards import BOARDS, Boards
from display.health import list_offline_periods, online_shares
from display.importer import import_boards
from display.messages import SCOPES, message_json
from display.registry import Board, retire_board, save_boards, set_key
from transit.app.auth import check_token, token_matches
from transit.app.errors import bad_parameter, json_error, not_found

MAX_CSV_BYTES = 8 * 1024 * 1024


def _boards(request: web.Request) -> Boards:
    return request.app[BOARDS]  # type: ignore[return-value]


def _admin_board(request: web.Request) -> tuple[Boards, Board]:
    """The admin token checked, and the registered board the path names (404 naming it if none)."""
    check_token(request, "admin")
    boards = _boards(request)
    board_id = request.match_info["board_id"]
    board = boards.registry.get(board_id)
    if board is None:
        raise not_found("board", board_id)
    return boards, board


def require_admin_page(request: web.Request) -> None:
    """Admin pages open in a browser: besides the API's token headers, accept the admin token as
    the password of HTTP Basic auth (the browser asks for it) or as ``?token=``."""
    boards = _boards(request)
    expected = boards.services.settings.admin.token
    auth = request.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            _, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            password = ""
        if token_matches(password, expected):
            return
    if token_matches(request.query.get("token"), expected):
        return
    try:
        check_token(request, "admin")
    except web.HTTPUnauthorized:
        raise web.HTTPUnauthorized(text="admin token required", headers={
            "WWW-Authenticate": 'Basic realm="transit boards (password: admin token)"'}) from None


async def _json_body(request: web.Request, boards: Boards) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        boards.metrics.reject("admin_api", "malformed")
        raise json_error(400, "malformed", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        boards.metrics.reject("admin_api", "malformed")
        raise json_error(400, "malformed", "the body must be a JSON object")
    return body


def _iso(ts: float | None, tz: dt.tzinfo) -> str | None:
    return dt.datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds") if ts is not None else None


def board_json(boards: Boards, board: Board, now: float) -> dict[str, Any]:
    st = boards.health.status(board, now)
    tz = boards.frames.tz
    index = boards.services.schedule.current()
    names = []
    for s in board.stop_ids:
        pos = index.find_stop(s) if index is not None else None
        names.append(index.stop_name[pos] if index is not None and pos is not None else None)
    return {**board.as_json(), "stop_names": names, "status": {
        "online": st.online, "last_seen": _iso(st.last_seen_ts, tz), "ip": st.ip, "firmware": st.firmware,
        "via": st.via, "offline_since": _iso(st.offline_since_ts if not st.online else None, tz),
        "mqtt_online": st.mqtt_online}}


def parse_time(name: str, value: Any, tz: dt.tzinfo) -> float:
    """ISO 8601 (a time without offset is in the service's zone) or POSIX seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise bad_parameter(name, f"expected an ISO 8601 time, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_parameter(name, f"expected an ISO 8601 time such as 2026-05-01T08:00:00+08:00, "
                                  f"got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def _known(boards: Boards) -> tuple[Any, Any]:
    index = boards.services.schedule.current()
    return (index.stop_pos, index.route_pos) if index is not None else (None, None)


# ---------------------------------------------------------------------------------------- boards

async def list_all(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    now = boards.clock.now()
    return web.json_response({"boards": [board_json(boards, b, now) for b in
                                         sorted(boards.registry.list(), key=lambda b: b.board_id)]},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _save(request: web.Request, raw: dict[str, Any], status: int) -> web.Response:
    boards = _boards(request)
    stops, routes = _known(boards)
    spec = parse_spec(raw, stops, routes)
    if isinstance(spec, list):
        boards.metrics.reject("admin_api", "bad_value")
        raise json_error(422, "invalid_board", "; ".join(spec), problems=spec)
    saved = (await save_boards(boards.services.pool, [spec], boards.clock.now()))[0]
    await boards.registry.reload(boards.services.pool)
    board = boards.registry.get(spec.board_id)
    assert board is not None
    body = board_json(boards, board, boards.clock.now())
    if saved.generated_key:
        body["key"] = saved.generated_key  # shown once
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def create(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    raw = await _json_body(request, boards)
    if boards.registry.get(str(raw.get("board_id", ""))) is not None:
        raise json_error(409, "exists", f"board {raw.get('board_id')!r} exists; PUT "
                                        f"/api/v1/admin/boards/{raw.get('board_id')} to change it")
    raw.setdefault("route_ids", [])
    raw.setdefault("location", "")
    raw.setdefault("key", None)
    return await _save(request, raw, 201)


async def update(request: web.Request) -> web.Response:
    boards, board = _admin_board(request)
    board_id = board.board_id
    raw = await _json_body(request, boards)
    if raw.get("board_id", board_id) != board_id:
        raise json_error(422, "invalid_board", "board_id cannot be changed; create a new board instead")
    # fields not given keep their value; unknown ones go on to be reported by parse_spec
    merged = {**board.as_json(), "key": None, **raw, "board_id": board_id}
    return await _save(request, merged, 200)


async def get_one(request: web.Request) -> web.Response:
    boards, board = _admin_board(request)
    now = boards.clock.now()
    body = board_json(boards, board, now)
    frame = boards.frames.preview(board, now)
    body["frame"] = {"pages": [list(p) for p in frame.pages]}
    return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def retire(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    board_id = request.match_info["board_id"]
    if not await retire_board(boards.services.pool, board_id, boards.clock.now()):
        raise not_found("board", board_id)
    await boards.registry.reload(boards.services.pool)
    return web.json_response({"board_id": board_id, "retired": True})


async def rotate_key(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    board_id = request.match_info["board_id"]
    raw = await _json_body(request, boards) if request.can_read_body else {}
    from display.keys import key_problem

    key = raw.get("key")
    if key is not None and (not isinstance(key, str) or (problem := key_problem(key))):
        raise json_error(422, "invalid_key", f"key: {problem}" if isinstance(key, str) else "key: must be a string")
    new_key = await set_key(boards.services.pool, board_id, key, boards.clock.now())
    if new_key is None:
        raise not_found("board", board_id)
    await boards.registry.reload(boards.services.pool)
    return web.json_response({"board_id": board_id, "key": new_key})


async def import_csv(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    data = await request.read()
    if len(data) > MAX_CSV_BYTES:
        raise json_error(413, "too_large", f"at most {MAX_CSV_BYTES} bytes of CSV")
    report = await import_boards(boards.services.pool, data, boards.services.schedule.current(),
                                 boards.clock.now())
    for r in report.rejections:
        boards.metrics.reject("csv_import", str(r.kind))
    await boards.registry.reload(boards.services.pool)
    status = 200 if report.saved or not report.rejections else 422
    return web.json_response(report.as_json(), status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


# ---------------------------------------------------------------------------------------- coverage

def _period(request: web.Request, boards: Boards) -> tuple[float, float]:
    tz = boards.frames.tz
    now = boards.clock.now()
    to_ts = parse_time("to", request.query["to"], tz) if "to" in request.query else now
    from_ts = parse_time("from", request.query["from"], tz) if "from" in request.query else to_ts - 86400
    if to_ts <= from_ts:
        raise bad_parameter("to", "must be after from")
    return from_ts, to_ts


async def coverage(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    from_ts, to_ts = _period(request, boards)
    shares = await online_shares(boards.services.pool, from_ts, to_ts)
    tz = boards.frames.tz
    return web.json_response({"from": _iso(from_ts, tz), "to": _iso(to_ts, tz), "online_share": shares})


async def offline_history(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    board_id = request.match_info["board_id"]
    if boards.registry.get(board_id) is None:
        raise not_found("board", board_id)
    from_ts, to_ts = _period(request, boards)
    tz = boards.frames.tz
    periods = await list_offline_periods(boards.services.pool, board_id, from_ts, to_ts)
    return web.json_response({"board_id": board_id, "offline": [
        {"start": _iso(s, tz), "end": _iso(e, tz), "reason": r} for s, e, r in periods]})


# ---------------------------------------------------------------------------------------- messages

async def list_messages(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    now = boards.clock.now()
    return web.json_response(
        {"messages": [{**message_json(m, boards.frames.tz), "active": m.active(now)}
                      for m in boards.messages.list()]},
        dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def create_message(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    raw = await _json_body(request, boards)
    tz = boards.frames.tz
    now = boards.clock.now()
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        raise json_error(422, "invalid_message", "text: 1 to 500 characters are required")
    text_en = raw.get("text_en")
    if text_en is not None and (not isinstance(text_en, str) or len(text_en) > 500):
        raise json_error(422, "invalid_message", "text_en: at most 500 characters")
    if raw.get("board_id"):
        scope, target = "board", str(raw["board_id"])
        if boards.registry.get(target) is None:
            raise json_error(422, "invalid_message", f"board_id: unknown board {target!r}")
    elif raw.get("route_id"):
        scope, target = "route", str(raw["route_id"])
        index = boards.services.schedule.current()
        if index is not None and index.find_route(target) is None:
            raise json_error(422, "invalid_message", f"route_id: not in the active schedule: {target!r}")
    elif raw.get("all") is True or raw.get("scope") == "all":
        scope, target = "all", None
    else:
        raise json_error(422, "invalid_message", "say which boards: board_id, route_id, or \"all\": true")
    assert scope in SCOPES
    starts_ts = parse_time("starts_at", raw["starts_at"], tz) if raw.get("starts_at") is not None else now
    if raw.get("ends_at") is None:
        raise json_error(422, "invalid_message", "ends_at is required (ISO 8601)")
    ends_ts = parse_time("ends_at", raw["ends_at"], tz)
    if ends_ts <= starts_ts:
        raise json_error(422, "invalid_message", "ends_at must be after starts_at")
    message = await boards.messages.create(boards.services.pool, scope=scope, target=target, text=text.strip(),
                                           text_en=text_en.strip() if text_en else None, starts_ts=starts_ts,
                                           ends_ts=ends_ts, now=now)
    return web.json_response(message_json(message, tz), status=201,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def end_message(request: web.Request) -> web.Response:
    check_token(request, "admin")
    boards = _boards(request)
    try:
        message_id = int(request.match_info["message_id"])
    except ValueError:
        raise bad_parameter("message_id", "expected an integer") from None
    message = await boards.messages.end(boards.services.pool, message_id, boards.clock.now())
    if message is None:
        raise json_error(404, "not_found", f"unknown message {message_id}", message_id=message_id)
    return web.json_response(message_json(message, boards.frames.tz),
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def statistics(request: web.Request) -> web.Response:
    check_token(request, "admin")
    return web.json_response(_boards(request).statistics())


def add_routes(app: web.Application) -> None:
    base = "/api/v1/admin/boards"
    r = app.router
    r.add_get(base, list_all)
    r.add_post(base, create)
    r.add_post(base + "/import", import_csv)
    r.add_get(base + "/coverage", coverage)
    r.add_get(base + "/statistics", statistics)
    r.add_get(base + "/messages", list_messages)
    r.add_post(base + "/messages", create_message)
    r.add_delete(base + "/messages/{message_id}", end_message)
    r.add_get(base + "/{board_id}", get_one)
    r.add_put(base + "/{board_id}", update)
    r.add_delete(base + "/{board_id}", retire)
    r.add_post(base + "/{board_id}/key", rotate_key)
    r.add_get(base + "/{board_id}/offline", offline_history)
