"""Operator messages through the admin API: one board, a line's boards, all boards; start, end."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.conftest import admin_headers
from tests.test_board_fixtures import (  # noqa: F401 (fixtures)
    BOARD_COMPONENTS,
    KEY,
    add_boards,
    at,
    board_services_fixture,
    spec,
    tiny_index_fixture,
)
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock


async def last_rows(client: Any, *board_ids: str) -> dict[str, str]:
    out = {}
    for board_id in board_ids:
        resp = await client.get(f"/boards/{board_id}/frame", headers={"X-Board-Key": KEY})
        assert resp.status == 200
        out[board_id] = (await resp.read()).decode("gbk").split("\n")[-2].rstrip()
    return out


async def test_messages_reach_one_board_a_lines_boards_or_all_boards_between_start_and_end(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    # B1 shows every line at B, R1 only route 1, LOOP only route L
    await add_boards(pool, spec("B1"), spec("R1ONLY", route_ids=("R1",)), spec("LOOP", route_ids=("L",)))
    client = await aiohttp_client(create_app(board_services, components=BOARD_COMPONENTS))
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    boards = ("B1", "R1ONLY", "LOOP")
    assert set((await last_rows(client, *boards)).values()) == {""}

    resp = await client.post("/api/v1/admin/boards/messages", headers=admin_headers(), json={
        "route_id": "R1", "text": "道路施工 临时改道", "text_en": "Road works: detour",
        "ends_at": "2026-11-25T09:00:00+08:00"})
    assert resp.status == 201
    route_msg = await resp.json()
    assert route_msg["scope"] == "route" and route_msg["starts_at"] == "2026-11-25T07:58:00+08:00"
    clock.advance(10)
    assert await last_rows(client, *boards) == {"B1": "道路施工 临时改道", "R1ONLY": "道路施工 临时改道", "LOOP": ""}

    resp = await client.post("/api/v1/admin/boards/messages", headers=admin_headers(), json={
        "board_id": "LOOP", "text": "本站暂停使用", "starts_at": "2026-11-25T08:00:00",
        "ends_at": "2026-11-25T08:30:00"})
    assert resp.status == 201
    clock.advance(10)
    assert (await last_rows(client, "LOOP"))["LOOP"] == ""  # not started yet
    clock.set(at(8, 0, 5))
    assert (await last_rows(client, "LOOP"))["LOOP"] == "本站暂停使用"

    resp = await client.post("/api/v1/admin/boards/messages", headers=admin_headers(), json={
        "all": True, "text": "暴雨预警", "ends_at": "2026-11-25T08:20:00+08:00"})
    assert resp.status == 201
    all_id = (await resp.json())["message_id"]
    clock.advance(10)
    rows = await last_rows(client, *boards)
    assert rows["LOOP"] == "本站暂停使用　暴雨预警"  # the board's own message first
    assert rows["B1"] == "道路施工 临时改道　暴雨预警"

    ended = await client.delete(f"/api/v1/admin/boards/messages/{all_id}", headers=admin_headers())
    assert ended.status == 200
    clock.advance(10)
    assert (await last_rows(client, "B1"))["B1"] == "道路施工 临时改道"
    listed = await (await client.get("/api/v1/admin/boards/messages", headers=admin_headers())).json()
    assert [(m["scope"], m["active"]) for m in listed["messages"]] == [
        ("route", True), ("board", True), ("all", False)]
    clock.set(at(9, 0))
    assert set((await last_rows(client, *boards)).values()) == {""}


async def test_bad_messages_are_refused_with_the_reason(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1"))
    client = await aiohttp_client(create_app(board_services, components=BOARD_COMPONENTS))
    url = "/api/v1/admin/boards/messages"
    ends = "2026-11-25T09:00:00+08:00"
    cases = [
        ({"board_id": "B1", "ends_at": ends}, "text"),
        ({"board_id": "NOPE", "text": "x", "ends_at": ends}, "unknown board"),
        ({"route_id": "R9", "text": "x", "ends_at": ends}, "R9"),
        ({"text": "x", "ends_at": ends}, "board_id, route_id"),
        ({"all": True, "text": "x"}, "ends_at"),
        ({"all": True, "text": "x", "ends_at": "soon"}, "ISO 8601"),
        ({"all": True, "text": "x", "starts_at": ends, "ends_at": "2026-11-25T08:00:00+08:00"}, "after"),
    ]
    for body, named in cases:
        resp = await client.post(url, json=body, headers=admin_headers())
        assert resp.status in (400, 422), body
        assert named in (await resp.json())["error"]["message"], body
    assert (await client.post(url, json={"all": True, "text": "x", "ends_at": ends})).status == 401
    assert (await client.delete(f"{url}/999", headers=admin_headers())).status == 404
