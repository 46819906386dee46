"""The boards' demo hook: boards of several layouts, keys printed, history, simulated polling."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg

from display.boards import BOARDS
from display.demo import BOARDS as DEMO_BOARDS
from display.demo import setup_demo
from display.health import online_shares
from tests.test_board_fixtures import (  # noqa: F401 (fixtures)
    BOARD_COMPONENTS,
    at,
    board_services_fixture,
    tiny_index_fixture,
)
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock


async def test_the_demo_registers_boards_prints_their_keys_and_keeps_them_polling(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    app = create_app(board_services, components=BOARD_COMPONENTS)
    notes: list[str] = []
    setup_demo(app, board_services, notes)
    client = await aiohttp_client(app)
    boards = client.app[BOARDS]
    assert sorted(b.board_id for b in boards.registry.list()) == [b.board_id for b in DEMO_BOARDS]
    layouts = {(b.rows, b.cols, b.encoding, b.languages) for b in boards.registry.list()}
    assert len(layouts) >= 6
    # every board's key is printed with its frame URL, and works
    urls = [n.strip() for n in notes if "/frame?key=" in n]
    assert len(urls) == len(DEMO_BOARDS)
    for url in urls:
        path = re.sub(r"^https?://[^/]+", "", url)
        resp = await client.get(path)
        assert resp.status == 200, path
    assert any("/boards/ZQ-B01/preview" in n for n in notes)
    # history: two months, the dead board silent for a week, the flaky one losing middays
    shares = await online_shares(pool, at(0, 0, day=1) - 20 * 86400, at(0, 0, day=24))
    assert shares["ZQ-B08"] < shares["ZQ-B07"] < shares["ZQ-B01"] <= 1.0
    assert shares["ZQ-B07"] < 0.98
    # the simulated boards poll on the service's clock: the steady ones stay on line
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    for _ in range(6):
        clock.advance(10)
        await asyncio.sleep(0.05)
    now = clock.now()
    online = {b.board_id for b in boards.registry.list() if boards.health.status(b, now).online}
    assert {"ZQ-B01", "ZQ-B02", "ZQ-B03", "ZQ-B04", "ZQ-B05"} <= online
    assert "ZQ-B08" not in online
