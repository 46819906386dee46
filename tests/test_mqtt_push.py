"""MQTT push against the real Mosquitto on 127.0.0.1:1883 (skipped with a message when absent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import asyncpg
import pytest

from display.boards import BOARDS, Boards
from display.health import online_shares
from display.mqtt import frame_topic, status_topic
from tests.conftest import admin_headers
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

BROKER = ("127.0.0.1", 1883)
PIDFILE = Path("/run/mosquitto/mosquitto.pid")
CONFIG = "/etc/mosquitto/mosquitto.conf"


def broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def broker() -> None:
    if not broker_up():
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (start Mosquitto to run the MQTT push tests)")


@pytest.fixture
def ids() -> Callable[[str], str]:
    """Board ids unique to this test (retained messages outlive a test run)."""
    suffix = uuid.uuid4().hex[:8]
    return lambda name: f"{name}-{suffix}"


@pytest.fixture
async def mqtt_app(board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any,
                   broker: None) -> AsyncIterator[Callable[..., Any]]:
    """Start the service with MQTT on (after the test has registered its boards)."""
    made: list[Any] = []
    cleared: list[str] = []

    async def start(*board_ids: str, **settings: Any) -> Any:
        board_services.settings = board_services.settings.replace(**{"mqtt.url": "mqtt://127.0.0.1:1883", **settings})
        client = await aiohttp_client(create_app(board_services, components=BOARD_COMPONENTS))
        made.append(client)
        cleared.extend(board_ids)
        await wait_for(lambda: boards_of(client).publisher is not None and boards_of(client).publisher.connected)
        return client

    yield start
    if broker_up():  # do not leave retained frames and statuses behind
        async with aiomqtt.Client(*BROKER) as c:
            for board_id in cleared:
                await c.publish(frame_topic(board_id), b"", qos=1, retain=True)
                await c.publish(status_topic(board_id), b"", qos=1, retain=True)


def boards_of(client: Any) -> Boards:
    return client.app[BOARDS]  # type: ignore[no-any-return]


async def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def board_client(board_id: str) -> AsyncIterator[tuple[aiomqtt.Client, asyncio.Queue[aiomqtt.Message]]]:
    """A board controller subscribed to its frame topic; its frames arrive on the queue."""
    async with aiomqtt.Client(*BROKER, identifier=f"test-{board_id}") as client:
        queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        await client.subscribe(frame_topic(board_id), qos=1)

        async def pump() -> None:
            async for message in client.messages:
                if message.payload:
                    queue.put_nowait(message)

        task = asyncio.create_task(pump())
        try:
            yield client, queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def next_frame(queue: asyncio.Queue[aiomqtt.Message], timeout_s: float = 5.0) -> aiomqtt.Message:
    return await asyncio.wait_for(queue.get(), timeout_s)


def rows(message: aiomqtt.Message) -> list[str]:
    return list(json.loads(bytes(message.payload))["rows"])


# ------------------------------------------------------------------------------------ raw board

def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(2, "big") + data


async def raw_board_online(board_id: str, payload: bytes = b"online") -> asyncio.StreamWriter:
    """A 4G controller as the broker sees it (MQTT 3.1.1): connects with the last will
    ``offline`` (retained), publishes ``online``.  Aborting the writer drops it like lost
    coverage, with no DISCONNECT, so the broker sends the will."""
    reader, writer = await asyncio.open_connection(*BROKER)
    body = _str("MQTT") + bytes([4, 0x2E]) + (60).to_bytes(2, "big")  # will, will QoS 1, retain, clean
    body += _str(f"raw-{board_id}") + _str(status_topic(board_id)) + _str(b"offline")
    writer.write(bytes([0x10]) + _length(len(body)) + body)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"\x20\x02\x00\x00"
    publish = _str(status_topic(board_id)) + payload
    writer.write(bytes([0x31]) + _length(len(publish)) + publish)  # QoS 0, retained
    await writer.drain()
    return writer


# ------------------------------------------------------------------------------------ tests

async def test_a_board_gets_its_retained_frame_when_it_connects(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    json_board, raw_board, poll_board = ids("J"), ids("R"), ids("P")
    await add_boards(pool, spec(json_board, delivery="mqtt"), spec(raw_board, delivery="both", frame_format="raw"),
                     spec(poll_board, delivery="poll"))
    client = await mqtt_app(json_board, raw_board, poll_board)
    publisher = boards_of(client).publisher
    await wait_for(lambda: publisher.published >= 2)
    async with board_client(json_board) as (_, queue):
        message = await next_frame(queue)
        assert message.retain
        body = json.loads(bytes(message.payload))
        assert body["board_id"] == json_board
        assert body["rows"][0] == "1路 丙站" + " " * 14 + "计划 08:05"
        assert body["arrivals"][0]["status"] == "scheduled"
    async with board_client(raw_board) as (_, queue):
        message = await next_frame(queue)
        assert message.retain
        text = bytes(message.payload)
        assert text.decode("gb2312").split("\n")[0] == "1路 丙站" + " " * 14 + "计划 08:05"
        assert all(len(r) == 32 for r in text.split(b"\n")[:-1])  # GB2312 bytes, exactly the width
        # the same frame a poll gets
        poll = await client.get(f"/boards/{raw_board}/frame", headers={"X-Board-Key": KEY})
        assert await poll.read() == text
    async with board_client(poll_board) as (_, queue):
        with pytest.raises(TimeoutError):  # a polling board gets nothing pushed
            await next_frame(queue, 1.0)


async def test_a_new_frame_within_a_second_of_a_snapshot_change_and_nothing_while_unchanged(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("M")
    await add_boards(pool, spec(board, delivery="mqtt", interval=60.0))
    client = await mqtt_app(board)
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    async with board_client(board) as (_, queue):
        first = await next_frame(queue)
        assert rows(first)[0].endswith("计划 08:05")
        # a snapshot that changes nothing on this board: no message at all
        board_services.snapshots.publish(realtime_t1(1, arrive_b=at(8, 5), fix_ts=clock.now() - 500))
        with pytest.raises(TimeoutError):
            await next_frame(queue, 1.5)
        # a vehicle starts tracking T1: the new frame arrives within a second
        started = time.monotonic()
        board_services.snapshots.publish(realtime_t1(2, arrive_b=at(8, 3, 50), fix_ts=clock.now() - 2))
        changed = await next_frame(queue, 1.0)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0
        assert rows(changed)[0] == "1路 丙站" + " " * 17 + "1站 5分"
        assert not changed.retain  # live, not a replay
        # a new snapshot where it is still 5 minutes away: nothing again
        board_services.snapshots.publish(realtime_t1(3, arrive_b=at(8, 3, 52), fix_ts=clock.now() - 1))
        with pytest.raises(TimeoutError):
            await next_frame(queue, 1.5)
    metrics = await (await client.get("/metrics")).text()
    assert "transit_mqtt_connected 1.0" in metrics
    assert "transit_mqtt_frames_unchanged_total" in metrics


async def test_a_keep_alive_once_per_board_interval_moves_a_paging_board_on(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("K")
    await add_boards(pool, spec(board, delivery="mqtt", rows=1, cols=24, interval=20.0))  # three pages
    await mqtt_app(board)
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    async with board_client(board) as (_, queue):
        first = json.loads(bytes((await next_frame(queue)).payload))
        assert (first["page"], first["pages"]) == (0, 3)
        with pytest.raises(TimeoutError):
            await next_frame(queue, 1.5)  # within the interval, nothing
        clock.advance(20)
        second = json.loads(bytes((await next_frame(queue, 3.0)).payload))
        assert second["page"] == 1 and second["rows"][0].startswith("1路 甲站")
        clock.advance(20)
        assert json.loads(bytes((await next_frame(queue, 3.0)).payload))["page"] == 2


async def test_online_and_the_last_will_offline_are_recorded_like_polls(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("S")
    await add_boards(pool, spec(board, delivery="mqtt"), now=at(7, 0))
    client = await mqtt_app(board)
    boards = boards_of(client)
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    registered = boards.registry.get(board)
    assert not boards.health.status(registered, clock.now()).online

    async with board_client(board) as (_, queue):
        await next_frame(queue)  # the retained frame
        clock.set(at(8, 0))
        writer = await raw_board_online(board, b'{"status": "online", "firmware": "4G-2.0"}')
        await wait_for(lambda: boards.health.status(registered, clock.now()).online)
        st = boards.health.status(registered, clock.now())
        assert (st.via, st.firmware, st.mqtt_online) == ("mqtt", "4G-2.0", True)
        # a board back on line gets its current frame at once, fresh (not the retained copy)
        fresh = await next_frame(queue, 2.0)
        assert not fresh.retain
        # an MQTT board stays online without polling, however long
        clock.set(at(9, 0))
        boards.health.evaluate(clock.now())
        assert boards.health.status(registered, clock.now()).online
        # it loses coverage: the broker sends its last will
        writer.transport.abort()
        await wait_for(lambda: not boards.health.status(registered, clock.now()).online)
    await boards.health.flush(pool)
    periods = await pool.fetch("SELECT start_at, end_at, reason FROM board_offline_periods WHERE board_id = $1 "
                               "ORDER BY start_at", board)
    assert [(p["start_at"].timestamp(), p["end_at"].timestamp() if p["end_at"] else None, p["reason"])
            for p in periods] == [(at(7, 0), at(8, 0), "never_seen"), (at(9, 0), None, "mqtt_offline")]
    shares = await online_shares(pool, at(7, 0), at(10, 0))
    assert shares[board] == pytest.approx(1 / 3)
    row = await pool.fetchrow("SELECT last_via, firmware FROM boards WHERE board_id = $1", board)
    assert (row["last_via"], row["firmware"]) == ("mqtt", "4G-2.0")


async def test_statuses_for_unknown_boards_and_garbage_are_refused_and_counted(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board, stranger, poller = ids("U"), ids("STRANGER"), ids("POLL")
    await add_boards(pool, spec(board, delivery="mqtt"), spec(poller, delivery="poll"))
    client = await mqtt_app(board, stranger, poller)
    boards = boards_of(client)

    def counts(metrics: str) -> dict[str, float]:
        out = {}
        for line in metrics.splitlines():
            if line.startswith("transit_board_rejections_total{") and 'source="mqtt_status"' in line:
                out[line.split('kind="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        return out

    await asyncio.sleep(0.5)  # statuses other boards left retained on a shared broker arrive first
    before = counts(await (await client.get("/metrics")).text())
    for target, payload in ((stranger, b"online"), (board, b"maybe"), (board, b"\xff\xfe"), (poller, b"online"),
                            (board, b'{"status": 3}')):
        writer = await raw_board_online(target, payload)
        await asyncio.sleep(0.2)
        writer.close()
    # (each raw board also leaves its last will, "offline", when it goes: counted too)
    expected = {"unknown_board": 2.0, "not_pushed": 2.0, "malformed": 3.0}
    added: dict[str, float] = {}
    for _ in range(60):
        now_counts = counts(await (await client.get("/metrics")).text())
        added = {k: v - before.get(k, 0.0) for k, v in now_counts.items() if v - before.get(k, 0.0)}
        if added == expected:
            break
        await asyncio.sleep(0.1)
    assert added == expected
    now = board_services.clock.now()
    assert boards.registry.get(stranger) is None
    assert not boards.health.status(boards.registry.get(board), now).online  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT count(*) FROM boards WHERE board_id = $1", stranger) == 0
    # the service is still connected and working
    assert boards.publisher.connected


async def test_operator_messages_reach_mqtt_boards_at_once(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("O")
    await add_boards(pool, spec(board, delivery="mqtt", interval=60.0))
    client = await mqtt_app(board)
    async with board_client(board) as (_, queue):
        await next_frame(queue)
        started = time.monotonic()
        resp = await client.post("/api/v1/admin/boards/messages", headers=admin_headers(), json={
            "board_id": board, "text": "道路施工 临时改道", "ends_at": "2026-11-25T09:00:00+08:00"})
        assert resp.status == 201
        message = await next_frame(queue, 1.0)
        assert time.monotonic() - started < 1.0
        assert rows(message)[-1].rstrip() == "道路施工 临时改道"


async def test_publishing_is_paced(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    names = [ids(f"PACE{i:02d}") for i in range(40)]
    await add_boards(pool, *(spec(n, delivery="mqtt", interval=600.0) for n in names))
    received: list[float] = []
    async with aiomqtt.Client(*BROKER) as watcher:
        for n in names:
            await watcher.subscribe(frame_topic(n), qos=1)

        async def count() -> None:
            async for message in watcher.messages:
                if message.payload and not message.retain:
                    received.append(time.monotonic())

        task = asyncio.create_task(count())
        try:
            started = time.monotonic()
            await mqtt_app(*names, **{"mqtt.max_frames_per_s": 20.0})
            await wait_for(lambda: len(received) >= 40, 20.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # 40 frames at 20 a second (a burst of 2 allowed): the last needs about two seconds
    first_second = sum(1 for t in received if t - received[0] < 1.0)
    assert first_second <= 20 + 2 + 1
    assert received[-1] - received[0] >= 1.5
    assert received[-1] - started < 15


async def test_a_board_taken_off_mqtt_has_its_retained_frame_cleared(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("C")
    await add_boards(pool, spec(board, delivery="mqtt"))
    client = await mqtt_app(board)
    async with board_client(board) as (_, queue):
        await next_frame(queue)
    resp = await client.put(f"/api/v1/admin/boards/{board}", json={"delivery": "poll"}, headers=admin_headers())
    assert resp.status == 200
    await asyncio.sleep(1.0)
    async with board_client(board) as (_, queue):
        with pytest.raises(TimeoutError):
            await next_frame(queue, 1.0)


def _stop_broker() -> None:
    pid = int(PIDFILE.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while broker_up() or (PIDFILE.exists() and _alive(pid)):
        if time.monotonic() > deadline:
            raise AssertionError("Mosquitto did not stop")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start_broker() -> None:
    subprocess.run(["mosquitto", "-d", "-c", CONFIG], check=True)
    deadline = time.monotonic() + 15
    while not broker_up():
        if time.monotonic() > deadline:
            raise AssertionError("Mosquitto did not start")
        time.sleep(0.1)


@pytest.mark.skipif(shutil.which("mosquitto") is None or not PIDFILE.exists(),
                    reason="needs the local Mosquitto (its pid file and binary) to restart it")
async def test_the_service_survives_a_broker_restart_and_republishes(
        board_services: Services, pool: asyncpg.Pool, mqtt_app: Any, ids: Callable[[str], str]) -> None:
    board = ids("X")
    await add_boards(pool, spec(board, delivery="both"))
    client = await mqtt_app(board)
    publisher = boards_of(client).publisher
    clock = board_services.clock
    assert isinstance(clock, ManualClock)
    async with board_client(board) as (_, queue):
        assert rows(await next_frame(queue))[0].endswith("计划 08:05")
    try:
        await asyncio.to_thread(_stop_broker)
        await wait_for(lambda: not publisher.connected)
        # polling goes on without the broker, and the frame changes meanwhile
        board_services.snapshots.publish(realtime_t1(1, arrive_b=at(8, 3, 50), fix_ts=clock.now() - 2))
        poll = await client.get(f"/boards/{board}/frame", headers={"X-Board-Key": KEY})
        assert poll.status == 200
        assert (await poll.read()).decode("gb2312").startswith("1路 丙站" + " " * 17 + "1站 5分")
        await asyncio.sleep(1.5)  # the publisher keeps trying meanwhile
    finally:
        if not broker_up():
            await asyncio.to_thread(_start_broker)
    await wait_for(lambda: publisher.connected, 60.0)
    assert publisher.connects >= 2
    # a board reconnecting now gets the current frame, not the one from before the restart
    async with board_client(board) as (_, queue):
        message = await next_frame(queue, 10.0)
        while rows(message)[0].endswith("计划 08:05"):  # the broker's persisted copy, then ours
            message = await next_frame(queue, 10.0)
        assert rows(message)[0] == "1路 丙站" + " " * 17 + "1站 5分"
