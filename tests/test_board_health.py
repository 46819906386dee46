"""Board health: online within three intervals, offline periods dated exactly, the bureau's
online share, /metrics, the admin pages."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import pytest

from display.boards import BOARDS
from display.health import BoardHealth, online_shares
from display.registry import BoardRegistry, list_boards, retire_board
from tests.conftest import ADMIN_TOKEN, admin_headers
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

T0 = at(6, 0)


async def health_for(pool: asyncpg.Pool) -> tuple[BoardHealth, BoardRegistry]:
    registry = BoardRegistry()
    await registry.reload(pool)
    health = BoardHealth(registry, online_intervals=3.0)
    await health.load(pool)
    return health, registry


async def test_a_board_is_online_within_three_of_its_intervals_and_offline_from_the_missed_poll(
        tiny_index: Any, pool: asyncpg.Pool) -> None:
    await add_boards(pool, spec("B1", interval=10.0), now=T0)
    health, registry = await health_for(pool)
    board = registry.get("B1")
    assert board is not None
    assert not health.is_online(board, T0 + 50)  # never heard
    health.record_poll(board, T0 + 100, "10.0.0.7", "fw1")
    assert health.is_online(board, T0 + 130)
    assert not health.is_online(board, T0 + 130.5)
    health.evaluate(T0 + 129)
    assert health.status(board, T0 + 129).online
    health.evaluate(T0 + 145)  # noticed 15 s late; offline since the moment it missed its polls
    assert not health.status(board, T0 + 145).online
    assert health.status(board, T0 + 145).offline_since_ts == T0 + 130
    health.record_poll(board, T0 + 400, "10.0.0.8", None)
    await health.flush(pool)
    rows = await pool.fetch("SELECT start_at, end_at, reason FROM board_offline_periods WHERE board_id = 'B1' "
                            "ORDER BY start_at")
    assert [(r["start_at"].timestamp() - T0, r["end_at"].timestamp() - T0, r["reason"]) for r in rows] == [
        (0.0, 100.0, "never_seen"), (130.0, 400.0, "missed_polls")]
    seen = await pool.fetchrow("SELECT last_seen_at, last_ip, firmware FROM boards WHERE board_id = 'B1'")
    assert (seen["last_seen_at"].timestamp(), seen["last_ip"], seen["firmware"]) == (T0 + 400, "10.0.0.8", "fw1")


async def test_a_restarted_service_dates_offline_periods_from_the_last_heartbeat(
        tiny_index: Any, pool: asyncpg.Pool) -> None:
    await add_boards(pool, spec("B1", interval=20.0), now=T0)
    health, registry = await health_for(pool)
    board = registry.get("B1")
    assert board is not None
    health.record_poll(board, T0 + 10, "10.0.0.7", None)
    await health.flush(pool)
    # the service stops; an hour later a new process starts and looks
    restarted, registry2 = await health_for(pool)
    assert restarted.status(registry2.get("B1"), T0 + 30).online  # type: ignore[arg-type]
    restarted.evaluate(T0 + 3600)
    await restarted.flush(pool)
    open_period = await pool.fetchrow("SELECT start_at, reason FROM board_offline_periods "
                                      "WHERE board_id = 'B1' AND end_at IS NULL")
    assert open_period["start_at"].timestamp() == T0 + 10 + 60 and open_period["reason"] == "missed_polls"


async def test_online_shares_count_only_the_time_boards_actually_worked(
        tiny_index: Any, pool: asyncpg.Pool) -> None:
    await add_boards(pool, spec("B1"), spec("B2"), spec("GONE"), now=T0)
    await add_boards(pool, spec("LATE"), now=T0 + 3000)
    health, registry = await health_for(pool)
    b1, b2 = registry.get("B1"), registry.get("B2")
    assert b1 is not None and b2 is not None
    # B1: first heard at +100, polls every 10 s to +1000, silent until +3000, then polls to the end
    t = T0 + 100
    while t <= T0 + 4000:
        if not T0 + 1000 < t < T0 + 3000:
            health.record_poll(b1, t, "10.0.0.1", None)
        health.record_poll(b2, t, "10.0.0.2", None)
        health.evaluate(t)
        t += 10
    await health.flush(pool)
    await retire_board(pool, "GONE", T0 + 2000)
    shares = await online_shares(pool, T0, T0 + 4000)
    assert shares["B2"] == pytest.approx(1 - 100 / 4000)
    assert shares["B1"] == pytest.approx(1 - (100 + (3000 - 1030)) / 4000)
    assert shares["GONE"] == 0.0  # registered, never heard, retired at +2000: counted until then
    assert shares["LATE"] == 0.0  # registered at +3000, never heard
    assert "LATE" not in await online_shares(pool, T0, T0 + 2000)  # did not exist yet
    assert "GONE" not in await online_shares(pool, T0 + 2500, T0 + 4000)  # retired before
    first_hour = await online_shares(pool, T0 + 1000, T0 + 2000)
    assert first_hour["B1"] == pytest.approx(30 / 1000)
    assert [b.board_id for b in await list_boards(pool)] == ["B1", "B2", "LATE"]
    with pytest.raises(ValueError):
        await online_shares(pool, T0, T0)


async def test_status_in_metrics_and_on_the_admin_pages(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    await add_boards(pool, spec("B1"), spec("B2", rows=2, cols=16, languages="zh+en"))
    client = await aiohttp_client(create_app(board_services, components=BOARD_COMPONENTS))
    assert (await client.get("/boards/B1/frame", headers={"X-Board-Key": KEY})).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_board_online{board_id="B1"} 1.0' in metrics
    assert 'transit_board_online{board_id="B2"} 0.0' in metrics
    assert 'transit_boards{state="online"} 1.0' in metrics and 'transit_boards{state="offline"} 1.0' in metrics
    assert 'transit_board_last_seen_timestamp_seconds{board_id="B1"}' in metrics

    assert (await client.get("/boards")).status == 401
    page = await client.get("/boards", headers=admin_headers())
    text = await page.text()
    assert page.status == 200 and "B1" in text and "在线 online" in text and "离线 offline" in text
    assert "乙站 (B)" in text
    basic = base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
    preview = await client.get("/boards/B2/preview", headers={"Authorization": f"Basic {basic}"})
    html = await preview.text()
    assert preview.status == 200
    # the LED geometry: 2 rows per page, a Chinese character spans two cells, ASCII one
    assert html.count('<div class="led') == 3  # three pages: 1路 丙站/English, 1路 甲站/..., L路/...
    assert '<span class="c c2">丙</span>' in html and '<span class="c c1">1</span>' in html
    first_led = html.split('<div class="led')[1]
    assert first_led.count('<div class="row">') == 2
    assert (await client.get(f"/boards/B2/preview?token={ADMIN_TOKEN}")).status == 200
    assert (await client.get("/boards/NOPE/preview", headers=admin_headers())).status == 404
    # a preview is not a poll: the board is still offline and its page did not move
    boards = client.app[BOARDS]
    assert not boards.health.status(boards.registry.get("B2"), board_services.clock.now()).online

    coverage = await client.get("/api/v1/admin/boards/coverage", headers=admin_headers(),
                                params={"from": "2026-11-25T06:00:00+08:00", "to": "2026-11-25T07:58:00"})
    assert coverage.status == 200
    assert (await coverage.json())["online_share"] == {"B1": 0.0, "B2": 0.0}
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    clock.advance(600)  # B1 stops polling: offline after 30 s
    boards.health.evaluate(clock.now())
    await boards.health.flush(pool)
    history = await client.get("/api/v1/admin/boards/B1/offline", headers=admin_headers(),
                               params={"from": "2026-11-25T06:00:00+08:00"})
    periods = (await history.json())["offline"]
    assert [p["reason"] for p in periods] == ["never_seen", "missed_polls"]
    assert periods[1]["start"] == "2026-11-25T07:58:30+08:00" and periods[1]["end"] is None
    bad = await client.get("/api/v1/admin/boards/coverage", headers=admin_headers(), params={"from": "yesterday"})
    assert bad.status == 400 and "from" in (await bad.json())["error"]["message"]
