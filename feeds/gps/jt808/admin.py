"""Admin API for the terminal registry: ``/api/v1/admin/terminals`` (admin token).

    GET    /api/v1/admin/terminals[?route_id=&vehicle_id=]   list, with who is connected now
    POST   /api/v1/admin/terminals                           create one (JSON), 409 if it exists
    POST   /api/v1/admin/terminals/import                    CSV body, as `transit terminals import`
    GET    /api/v1/admin/terminals/{phone}                   one terminal
    PUT    /api/v1/admin/terminals/{phone}                   create or replace
    PATCH  /api/v1/admin/terminals/{phone}                   change some fields
    DELETE /api/v1/admin/terminals/{phone}                   remove it and close its connection

Bodies are ``{"phone", "vehicle_id", "plate", "route_id", "auth_code"}``; ``auth_code`` is write
only (the answer says whether one is set).  A route unknown to the active GTFS feed is accepted
with a warning: the registry may be filled before the timetable.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from feeds.gps.jt808.packet import normalise_phone
from feeds.gps.jt808.registry import TerminalExists, TerminalRegistry, TerminalRow
from feeds.gps.jt808.registry_csv import check_terminal, decode_text, parse_registry_csv
from feeds.gps.metrics import get_ingest_metrics
from transit.app.auth import check_token
from transit.app.errors import json_error, not_found
from transit.app.services import Services, get_services
from transit.core.rejection import Rejection, RejectionKind

SOURCE = "jt808_registry"
_FIELDS = ("phone", "vehicle_id", "plate", "route_id", "auth_code")


def _registry(request: web.Request) -> TerminalRegistry:
    registry: TerminalRegistry = get_services(request).extras["jt808_registry"]
    return registry


def _refuse(request: web.Request, kind: RejectionKind, message: str, status: int = 400) -> web.HTTPException:
    get_ingest_metrics(get_services(request).registry).count_rejections(SOURCE, [Rejection(0, kind, message)])
    return json_error(status, str(kind), message)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _refuse(request, RejectionKind.MALFORMED, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _refuse(request, RejectionKind.MALFORMED, "body must be a JSON object")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise _refuse(request, RejectionKind.BAD_VALUE,
                      f"unknown field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    code = body.get("auth_code")
    if code is not None and (not isinstance(code, str) or not code or len(code) > 64 or not code.isprintable()):
        raise _refuse(request, RejectionKind.BAD_VALUE, "auth_code must be 1-64 printable characters")
    return body


def _path_phone(request: web.Request) -> str:
    phone = normalise_phone(request.match_info["phone"])
    if phone is None:
        raise _refuse(request, RejectionKind.BAD_VALUE,
                      f"phone {request.match_info['phone']!r} must be 1 to 20 digits")
    return phone


def _route_warnings(services: Services, route_ids: list[str | None]) -> list[str]:
    index = services.schedule.current()
    if index is None:
        return []
    unknown = sorted({r for r in route_ids if r and index.find_route(r) is None})
    return [f"route_id {r!r} is not in the active GTFS feed {index.feed_id}" for r in unknown]


def _view(services: Services, row: TerminalRow) -> dict[str, Any]:
    out = row.as_json(services.settings.tz)
    server = services.extras.get("jt808")
    session = server.find_session(row.terminal.phone) if server is not None else None
    out["connection"] = session.statistics() if session is not None else None
    return out


async def list_terminals(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    rows = await _registry(request).list_rows(request.query.get("route_id") or None,
                                              request.query.get("vehicle_id") or None)
    server = services.extras.get("jt808")
    return web.json_response({
        "count": len(rows),
        "terminals": [_view(services, r) for r in rows],
        "server": server.statistics() if server is not None else None,
    }, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def get_terminal(request: web.Request) -> web.Response:
    check_token(request, "admin")
    phone = _path_phone(request)
    row = await _registry(request).find_row(phone)
    if row is None:
        raise not_found("terminal", phone)
    return _answer(get_services(request), row, 200)


def _answer(services: Services, row: TerminalRow, status: int) -> web.Response:
    body = _view(services, row)
    body["warnings"] = _route_warnings(services, [row.terminal.route_id])
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def create_terminal(request: web.Request) -> web.Response:
    check_token(request, "admin")
    body = await _json_body(request)
    terminal = check_terminal(body)
    if isinstance(terminal, str):
        raise _refuse(request, RejectionKind.BAD_VALUE, terminal)
    try:
        row = await _registry(request).create(terminal, body.get("auth_code"))
    except TerminalExists:
        raise json_error(409, "conflict", f"terminal {terminal.phone} already exists; "
                         f"use PUT or PATCH /api/v1/admin/terminals/{terminal.phone}") from None
    return _answer(get_services(request), row, 201)


async def put_terminal(request: web.Request) -> web.Response:
    check_token(request, "admin")
    phone = _path_phone(request)
    body = await _json_body(request)
    if "phone" in body and normalise_phone(str(body["phone"])) != phone:
        raise _refuse(request, RejectionKind.BAD_VALUE, f"phone in the body differs from the path ({phone})")
    terminal = check_terminal({**body, "phone": phone})
    if isinstance(terminal, str):
        raise _refuse(request, RejectionKind.BAD_VALUE, terminal)
    registry = _registry(request)
    changes = {"vehicle_id": terminal.vehicle_id, "plate": terminal.plate, "route_id": terminal.route_id}
    if "auth_code" in body:
        changes["auth_code"] = body["auth_code"]
    row = await registry.update(phone, changes)
    if row is not None:
        return _answer(get_services(request), row, 200)
    try:
        row = await registry.create(terminal, body.get("auth_code"))
    except TerminalExists:  # created between the two statements
        row = await registry.update(phone, changes)
        assert row is not None
        return _answer(get_services(request), row, 200)
    return _answer(get_services(request), row, 201)


async def patch_terminal(request: web.Request) -> web.Response:
    check_token(request, "admin")
    phone = _path_phone(request)
    body = await _json_body(request)
    registry = _registry(request)
    current = await registry.find_row(phone)
    if current is None:
        raise not_found("terminal", phone)
    if "phone" in body and normalise_phone(str(body["phone"])) != phone:
        raise _refuse(request, RejectionKind.BAD_VALUE, "the phone of a terminal cannot be changed; "
                      "delete it and create the new one")
    t = current.terminal
    merged = {"phone": phone, "vehicle_id": t.vehicle_id, "plate": t.plate, "route_id": t.route_id,
              **{k: v for k, v in body.items() if k != "auth_code"}}
    terminal = check_terminal(merged)
    if isinstance(terminal, str):
        raise _refuse(request, RejectionKind.BAD_VALUE, terminal)
    changes: dict[str, Any] = {k: getattr(terminal, k) for k in ("vehicle_id", "plate", "route_id") if k in body}
    if "auth_code" in body:
        changes["auth_code"] = body["auth_code"]
    row = await registry.update(phone, changes)
    if row is None:
        raise not_found("terminal", phone)
    return _answer(get_services(request), row, 200)


async def delete_terminal(request: web.Request) -> web.Response:
    check_token(request, "admin")
    phone = _path_phone(request)
    if not await _registry(request).delete(phone):
        raise not_found("terminal", phone)
    server = get_services(request).extras.get("jt808")
    if server is not None:
        server.drop_terminal(phone)
    return web.Response(status=204)


async def import_terminals(request: web.Request) -> web.Response:
    check_token(request, "admin")
    services = get_services(request)
    parsed = parse_registry_csv(decode_text(await request.read()))
    if parsed.rejections:
        get_ingest_metrics(services.registry).count_rejections(SOURCE, parsed.rejections)
    created, updated = await _registry(request).import_terminals(t for _, t in parsed.terminals)
    return web.json_response({
        "created": created, "updated": updated,
        "rejections": [{"line": r.index, "kind": str(r.kind), "detail": r.detail} for r in parsed.rejections],
        "warnings": _route_warnings(services, [t.route_id for _, t in parsed.terminals]),
    }, status=200 if parsed.terminals or not parsed.rejections else 400,
        dumps=lambda o: json.dumps(o, ensure_ascii=False))


def add_routes(app: web.Application) -> None:
    base = "/api/v1/admin/terminals"
    app.router.add_get(base, list_terminals)
    app.router.add_post(base, create_terminal)
    app.router.add_post(base + "/import", import_terminals)
    app.router.add_get(base + "/{phone}", get_terminal)
    app.router.add_put(base + "/{phone}", put_terminal)
    app.router.add_patch(base + "/{phone}", patch_terminal)
    app.router.add_delete(base + "/{phone}", delete_terminal)
