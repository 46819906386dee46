"""The polling endpoint against the real server: keys, 304s until the snapshot changes, formats,
heartbeats."""

from __future__ import annotations

from typing import Any

import asyncpg

from display.boards import BOARDS
from tests.test_board_fixtures import (  # noqa: F401 (fixtures)
    BOARD_COMPONENTS,
    KEY,
    add_boards,
    at,
    board_services_fixture,
    realtime_t1,
    spec,
    tiny_index_fixture,
)
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock


async def client_for(aiohttp_client: Any, services: Services) -> Any:
    # (tests ask for aiohttp_client after pool, so the app stops before the pool closes)
    return await aiohttp_client(create_app(services, components=BOARD_COMPONENTS))


async def test_a_board_gets_304_until_the_snapshot_changes_its_frame(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1"))
    client = await client_for(aiohttp_client, board_services)
    clock = board_services.clock
    assert isinstance(clock, ManualClock)

    first = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY})
    assert first.status == 200
    assert first.headers["Content-Type"] == "text/plain; charset=GB2312"
    etag = first.headers["ETag"]
    body = await first.read()
    rows = body.decode("gb2312").split("\n")[:-1]
    assert len(rows) == 4 and all(len(r.encode("gb2312")) == 32 for r in rows)
    assert rows[0] == "1路 丙站" + " " * 14 + "计划 08:05"
    assert rows[1] == "1路 甲站" + " " * 14 + "计划 08:25"
    assert rows[2] == "L路 环线" + " " * 14 + "计划 09:05"
    assert rows[3] == " " * 32

    for _ in range(3):  # nothing changed: 304, no body
        clock.advance(10)
        again = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY, "If-None-Match": etag})
        assert again.status == 304
        assert again.headers["ETag"] == etag
        assert await again.read() == b""

    # a vehicle starts tracking T1: the next poll gets the real-time frame
    board_services.snapshots.publish(realtime_t1(1, arrive_b=at(8, 3, 50), fix_ts=clock.now() - 2))
    clock.advance(10)
    changed = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY, "If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    rows = (await changed.read()).decode("gb2312").split("\n")
    assert rows[0] == "1路 丙站" + " " * 17 + "1站 5分"

    # a snapshot that changes nothing this board shows keeps the 304
    new_etag = changed.headers["ETag"]
    board_services.snapshots.publish(realtime_t1(2, arrive_b=at(8, 3, 55), fix_ts=clock.now() - 1))
    clock.advance(5)
    same = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY, "If-None-Match": new_etag})
    assert same.status == 304


async def test_wrong_key_gets_401_and_unknown_board_404(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1"))
    client = await client_for(aiohttp_client, board_services)
    wrong = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY + "x"})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["code"] == "unauthorized"
    missing = await client.get("/boards/B1/frame")
    assert missing.status == 401
    unknown = await client.get("/boards/NOPE/frame", headers={"X-Board-Key": KEY})
    assert unknown.status == 404
    assert "NOPE" in (await unknown.json())["error"]["message"]
    # the key in the query string or as a bearer token works too (controllers that cannot set headers)
    assert (await client.get(f"/boards/B1/frame?key={KEY}")).status == 200
    assert (await client.get("/boards/B1/frame", headers={"Authorization": f"Bearer {KEY}"})).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_board_polls_total{result="401"} 2.0' in metrics
    assert 'transit_board_polls_total{result="404"} 1.0' in metrics
    assert 'transit_board_rejections_total{kind="not_authenticated",source="poll"} 2.0' in metrics


async def test_json_frame_has_the_same_rows_plus_structured_arrivals(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1", languages="zh+en", rows=2, cols=32))
    client = await client_for(aiohttp_client, board_services)
    board_services.snapshots.publish(realtime_t1(1, arrive_b=at(8, 3, 50), fix_ts=at(7, 57, 58)))
    resp = await client.get(f"/boards/B1/frame?key={KEY}&format=json")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.headers["ETag"].startswith('W/"')
    body = await resp.json()
    assert body["board_id"] == "B1"
    assert body["pages"] == 3 and body["page"] == 0
    assert body["rows"][0].startswith("1路 丙站")
    first = body["arrivals"][0]
    assert first["route"] == "1" and first["headsign"] == "丙站" and first["status"] == "realtime"
    assert first["minutes"] == 5 and first["stops_away"] == 1 and first["realtime"] is True
    assert first["arrival"] == "2026-11-25T08:03:00+08:00"
    assert [a["status"] for a in body["arrivals"]] == ["realtime", "scheduled", "scheduled"]
    # the text form of the same poll cycle shows the same rows
    text = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY, "Accept": "text/plain"})
    assert text.status == 200
    # a bad format is named
    bad = await client.get(f"/boards/B1/frame?key={KEY}&format=xml")
    assert bad.status == 400 and "format" in (await bad.json())["error"]["message"]


async def test_each_poll_moves_a_paging_board_to_its_next_page(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1", rows=1, cols=24))
    client = await client_for(aiohttp_client, board_services)
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    seen = []
    for _ in range(4):
        resp = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY})
        seen.append(((await resp.read()).decode("gb2312").strip(), resp.headers["X-Board-Page"]))
        clock.advance(10)
    assert [p for _, p in seen] == ["1/3", "2/3", "3/3", "1/3"]
    assert seen[0][0].startswith("1路 丙站") and seen[2][0].startswith("L路 环线")


async def test_every_poll_is_a_heartbeat_with_ip_and_firmware(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1"))
    client = await client_for(aiohttp_client, board_services)
    boards = client.app[BOARDS]
    board = boards.registry.get("B1")
    assert not boards.health.status(board, board_services.clock.now()).online
    resp = await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY, "X-Board-Firmware": "LED-3.2.1"})
    assert resp.status == 200
    st = boards.health.status(board, board_services.clock.now())
    assert st.online and st.ip == "127.0.0.1" and st.firmware == "LED-3.2.1"
    # a 304 is a heartbeat too, and ?fw= works for controllers without headers
    board_services.clock.advance(10)
    resp = await client.get(f"/boards/B1/frame?key={KEY}&fw=LED-3.3",
                            headers={"If-None-Match": resp.headers["ETag"]})
    assert resp.status == 304
    await boards.health.flush(pool)
    row = await pool.fetchrow("SELECT last_seen_at, last_ip, firmware, last_via FROM boards WHERE board_id = 'B1'")
    assert row["last_seen_at"].timestamp() == at(7, 58, 10)
    assert (row["last_ip"], row["firmware"], row["last_via"]) == ("127.0.0.1", "LED-3.3", "poll")
    # the never-seen period that began at registration is closed by the first poll
    periods = await pool.fetch("SELECT start_at, end_at, reason FROM board_offline_periods WHERE board_id = 'B1'")
    assert [(p["start_at"].timestamp(), p["end_at"].timestamp(), p["reason"]) for p in periods] == [
        (at(6, 0), at(7, 58), "never_seen")]
