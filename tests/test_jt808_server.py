"""The JT/T 808 TCP server, driven through the real app (ingest pipeline + PostgreSQL) by
simulated terminals over real sockets.  Replies are checked byte for byte against frames built
independently from the protocol fields, and stored fixes against what the terminals sent."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.framing import escape, seal, unescape
from feeds.gps.jt808.location import encode_batch, encode_location
from feeds.gps.jt808.packet import EDITION_2013, EDITION_2019, encode_packet, phone_to_bcd
from feeds.gps.jt808.simulator import Answer, SimulatedTerminal
from tests.conftest import admin_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.settings import Settings

COMPONENTS = ["transit.app.health:setup", "feeds.gps.component:setup", "feeds.gps.jt808.component:setup"]

Start = Callable[..., Awaitable[tuple[Services, Any]]]


@pytest.fixture
def start(settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any) -> Start:
    """Start the real app (pipeline + JT/T 808 server) with some settings changed."""

    async def go(**changes: Any) -> tuple[Services, Any]:
        services = Services(settings=settings.replace(**changes) if changes else settings, pool=pool)
        client = await aiohttp_client(create_app(services, components=COMPONENTS))
        return services, client

    return go


async def add_terminal(client: Any, phone: str, vehicle_id: str, plate: str, route_id: str | None) -> None:
    resp = await client.post("/api/v1/admin/terminals", headers=admin_headers(),
                             json={"phone": phone, "vehicle_id": vehicle_id, "plate": plate, "route_id": route_id})
    assert resp.status == 201, await resp.text()


async def connect(services: Services, phone: str, edition: int = EDITION_2013) -> SimulatedTerminal:
    terminal = SimulatedTerminal(phone, edition, protocol_version=1 if edition == EDITION_2019 else 0)
    await terminal.connect("127.0.0.1", services.extras["jt808"].port)
    return terminal


def with_bad_check_code(frame: bytes) -> bytes:
    content = unescape(frame[1:-1])
    assert content is not None
    return b"\x7e" + escape(content[:-1] + bytes([content[-1] ^ 0x01])) + b"\x7e"


def with_trailing_bytes(frame: bytes) -> bytes:
    """Two bytes more than the header's body length says, with a valid check code."""
    content = unescape(frame[1:-1])
    assert content is not None
    return seal(content[:-1] + b"\x00\x00")


def expected_ack(t: SimulatedTerminal, platform_serial: int, serial: int, msg_id: int, result: int) -> bytes:
    """The 0x8001 a correct platform sends, built from the protocol fields alone."""
    return encode_packet(0x8001, serial.to_bytes(2, "big") + msg_id.to_bytes(2, "big") + bytes((result,)),
                         t.phone_bcd, platform_serial, t.edition, t.protocol_version)


async def metric(client: Any, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- the whole conversation

TERMINALS = [
    # phone, edition of the header, registration layout, vehicle, plate, route
    ("13800000001", EDITION_2013, 2013, "ZQ-0101", "鲁A·10101", "K301"),
    ("13800000002", EDITION_2013, 2011, "ZQ-0102", "鲁A·10102", "K301"),
    ("13800000003", EDITION_2019, 2019, "ZQ-0103", "鲁A·10103", "K302"),
    ("013800000004", EDITION_2013, 2013, "ZQ-0104", "鲁A·10104", None),
    ("19900000000005", EDITION_2019, 2019, "ZQ-0105", "鲁AD10105", "K302"),
    ("13800000006", EDITION_2013, 2013, "ZQ-0106", "鲁A·10106", "K303"),
]


async def converse(services: Services, phone: str, edition: int, layout: int, plate: str,
                   now: float, k: int) -> dict[str, Any]:
    """One terminal's whole day in miniature; returns what it sent, for checking the store."""
    t = await connect(services, phone, edition)
    sent: dict[str, Any] = {"reports": [], "backlog": []}
    ps = 0  # the platform's serial numbers for this terminal, in the order it answers

    def check(answer: Answer, serial: int, msg_id: int, result: int) -> None:
        nonlocal ps
        assert t.raw_received[-1] == expected_ack(t, ps, serial, msg_id, result), (phone, msg_id)
        assert answer.header.serial == ps
        ps += 1

    try:
        # Register: 0x8100 with an issued code, in the terminal's own layout and phone width.
        reg_serial = t.serial
        answer = await t.register(plate=plate.replace("·", ""), edition=layout)
        assert isinstance(answer.response, m.RegisterResponse) and answer.response.result == m.REGISTER_OK
        code = answer.response.code
        assert code
        assert t.raw_received[-1] == encode_packet(
            0x8100, reg_serial.to_bytes(2, "big") + b"\x00" + code.encode(), t.phone_bcd, ps, t.edition,
            t.protocol_version)
        ps += 1
        # Authenticate with it.
        auth_serial = t.serial
        check(await t.authenticate(), auth_serial, 0x0102, 0)
        # Three live reports, a second apart, in Zhangqiu.
        for i in range(3):
            lat, lon, ts = 36.70 + k * 0.01 + i * 0.0001, 117.53 + i * 0.0002, now - 30 + i
            serial = t.serial
            check(await t.report(lat, lon, ts, speed_kmh=18.0 + i, direction_deg=90 + i, mileage_km=100.0 + i),
                  serial, 0x0200, 0)
            sent["reports"].append((ts, lat, lon, 18.0 + i, 90 + i, (100.0 + i) * 1000))
        # Heartbeat.
        serial = t.serial
        check(await t.heartbeat(), serial, 0x0002, 0)
        # A backlog from a coverage gap, older than the live reports.
        gap = [(36.69 + k * 0.01, 117.52 + j * 0.0003, now - 300 + j * 10) for j in range(4)]
        serial = t.serial
        check(await t.batch(gap, backlog=True), serial, 0x0704, 0)
        sent["backlog"] = gap
        # A frame with a broken check code: result 2, and the connection stays open.
        frame, serial = t.frame(m.LOCATION, encode_location(36.7, 117.5, now))
        await t.send_raw(with_bad_check_code(frame))
        check(await t.answer_to(serial), serial, 0x0200, 2)
        # A message id the platform does not handle: result 3.
        serial = t.serial
        check(await t.request(0x0900, b"\x01hello"), serial, 0x0900, 3)
        # The terminal's own general response needs no answer; the next report still works.
        await t.send(m.TERMINAL_RESPONSE, m.encode_terminal_response(m.TerminalResponse(0, 0x8001, 0)))
        ts = now - 20
        serial = t.serial
        check(await t.report(36.72 + k * 0.01, 117.54, ts, speed_kmh=30.0, direction_deg=180), serial, 0x0200, 0)
        sent["reports"].append((ts, 36.72 + k * 0.01, 117.54, 30.0, 180, None))
    finally:
        await t.close()
    return sent


async def test_concurrent_terminals_full_conversation(start: Start) -> None:
    services, client = await start()
    for phone, _, _, vehicle, plate, route in TERMINALS:
        await add_terminal(client, phone, vehicle, plate, route)
    now = time.time()
    results = await asyncio.gather(*[
        converse(services, phone, edition, layout, plate, now, k)
        for k, (phone, edition, layout, _, plate, _) in enumerate(TERMINALS)
    ])
    async with services.pool.acquire() as conn:
        for (phone, _, layout, vehicle, plate, route), sent in zip(TERMINALS, results, strict=True):
            rows = await conn.fetch(
                """SELECT extract(epoch FROM ts) AS ts, lat, lon, speed_mps, bearing_deg, odometer_m, label,
                          route_id, trip_id, source, live FROM positions WHERE vehicle_id = $1 ORDER BY ts""",
                vehicle)
            live = [r for r in rows if r["live"]]
            backlog = [r for r in rows if not r["live"]]
            assert len(live) == len(sent["reports"]) and len(backlog) == len(sent["backlog"]), vehicle
            for row, (ts, lat, lon, kmh, bearing, odo) in zip(live, sorted(sent["reports"]), strict=True):
                assert float(row["ts"]) == int(ts)
                assert row["lat"] == pytest.approx(lat, abs=1e-6) and row["lon"] == pytest.approx(lon, abs=1e-6)
                assert row["speed_mps"] == pytest.approx(kmh / 3.6, rel=1e-5)
                assert row["bearing_deg"] == bearing
                assert row["odometer_m"] == (pytest.approx(odo) if odo is not None else None)
                assert (row["label"], row["route_id"], row["trip_id"], row["source"]) == (plate, route, None, "jt808")
            for row, (lat, lon, ts) in zip(backlog, sent["backlog"], strict=True):
                assert float(row["ts"]) == int(ts) and row["lat"] == pytest.approx(lat, abs=1e-6)
                assert row["lon"] == pytest.approx(lon, abs=1e-6) and row["label"] == plate
            registered = await conn.fetchrow(
                "SELECT edition, auth_code IS NOT NULL AS coded, authenticated_at FROM jt808_terminals WHERE phone = $1",
                phone.lstrip("0"))
            assert registered["edition"] == layout and registered["coded"] and registered["authenticated_at"]
    # Bad frames are counted by kind; the message mix too.
    assert await metric(client, "transit_rejections_total", source="jt808", kind="bad_checksum") == len(TERMINALS)
    assert await metric(client, "transit_jt808_messages_total", msg_id="0x0200") == 4 * len(TERMINALS)


# --------------------------------------------------------------------------- authentication


async def test_location_before_authentication_is_refused_and_logged(
    start: Start, caplog: pytest.LogCaptureFixture,
) -> None:
    services, client = await start()
    await add_terminal(client, "13900000001", "ZQ-0201", "鲁A·20201", "K301")
    t = await connect(services, "13900000001")
    try:
        caplog.set_level(logging.WARNING, logger="feeds.gps.jt808")
        serial = t.serial
        answer = await t.report(36.7, 117.5, time.time())
        assert answer.response == m.PlatformResponse(serial, 0x0200, m.RESULT_FAILURE)
        assert t.raw_received[-1] == expected_ack(t, 0, serial, 0x0200, 1)
        assert any("before it authenticated" in r.getMessage() and "13900000001" in r.getMessage()
                   for r in caplog.records)
        # A wrong code is refused too.
        assert (await t.authenticate("WRONG")).response.result == m.RESULT_FAILURE  # type: ignore[union-attr]
        assert (await t.report(36.7, 117.5, time.time())).response.result == m.RESULT_FAILURE  # type: ignore[union-attr]
        # Register, authenticate, and the same report is taken.
        await t.register()
        assert (await t.authenticate()).response.result == m.RESULT_OK  # type: ignore[union-attr]
        assert (await t.report(36.7, 117.5, time.time())).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        await t.close()
    assert await services.pool.fetchval("SELECT count(*) FROM positions WHERE vehicle_id = 'ZQ-0201'") == 1
    assert await metric(client, "transit_rejections_total", source="jt808", kind="not_authenticated") == 3


async def test_an_issued_code_survives_reconnection_and_replaces_the_old_connection(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000002", "ZQ-0202", "鲁A·20202", "K301")
    first = await connect(services, "13900000002")
    await first.register()
    assert (await first.authenticate()).response.result == m.RESULT_OK  # type: ignore[union-attr]
    second = await connect(services, "13900000002")
    try:
        assert (await second.authenticate(first.auth_code)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        with pytest.raises(ConnectionError):  # the stale connection is closed
            await first.receive()
        assert (await second.report(36.71, 117.51, time.time())).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        await first.close()
        await second.close()


async def test_unknown_terminal_registration(start: Start) -> None:
    services, client = await start()
    t = await connect(services, "13900000003")
    try:
        serial = t.serial
        answer = await t.register()
        assert answer.response == m.RegisterResponse(serial, m.REGISTER_NO_TERMINAL, None)
        assert t.raw_received[-1] == encode_packet(0x8100, serial.to_bytes(2, "big") + b"\x04", t.phone_bcd, 0)
    finally:
        await t.close()
    assert await metric(client, "transit_rejections_total", source="jt808", kind="unknown_vehicle") == 1


async def test_allow_unregistered_creates_a_provisional_vehicle(start: Start) -> None:
    services, client = await start(**{"jt808.allow_unregistered": True})
    t = await connect(services, "13900000004", EDITION_2019)
    try:
        assert (await t.register(plate="鲁A99999")).response.result == m.REGISTER_OK  # type: ignore[union-attr]
        assert (await t.authenticate()).response.result == m.RESULT_OK  # type: ignore[union-attr]
        assert (await t.report(36.7, 117.5, time.time())).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        await t.close()
    row = await services.pool.fetchrow("SELECT vehicle_id, label FROM positions")
    assert (row["vehicle_id"], row["label"]) == ("jt808-13900000004", "鲁A99999")
    listed = await (await client.get("/api/v1/admin/terminals", headers=admin_headers())).json()
    assert listed["terminals"][0]["provisional"] is True


async def test_logout_withdraws_the_code(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000005", "ZQ-0205", "鲁A·20205", None)
    t = await connect(services, "13900000005")
    try:
        await t.register()
        await t.authenticate()
        assert (await t.request(m.LOGOUT)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        assert (await t.report(36.7, 117.5, time.time())).response.result == m.RESULT_FAILURE  # type: ignore[union-attr]
        assert (await t.authenticate()).response.result == m.RESULT_FAILURE  # type: ignore[union-attr]
    finally:
        await t.close()


# --------------------------------------------------------------------------- throughput shapes


async def test_many_frames_in_one_read_and_subpackages(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000006", "ZQ-0206", "鲁A·20206", "K301")
    t = await connect(services, "13900000006")
    now = time.time()
    try:
        await t.register()
        await t.authenticate()
        frames = [t.frame(m.LOCATION, encode_location(36.7 + i * 1e-4, 117.5, now - 100 + i)) for i in range(60)]
        await t.send_raw(b"".join(f for f, _ in frames))
        answers = [await t.answer_to(serial) for _, serial in frames]
        assert all(a.response.result == m.RESULT_OK for a in answers)  # type: ignore[union-attr]
        # A backlog too long for one frame, sent as three sub-packages with consecutive serials.
        positions = [encode_location(36.69, 117.49 + j * 1e-4, now - 3000 + j) for j in range(30)]
        body = encode_batch(positions, 1)
        parts = [body[i:i + 400] for i in range(0, len(body), 400)]
        serials = []
        for i, part in enumerate(parts, 1):
            frame, serial = t.frame(m.BATCH, part, package=(len(parts), i))
            serials.append(serial)
            await t.send_raw(frame)
        acks = [await t.answer_to(s) for s in serials]
        assert [a.response.result for a in acks] == [0] * len(parts)  # type: ignore[union-attr]
    finally:
        await t.close()
    counts = await services.pool.fetchrow(
        "SELECT count(*) FILTER (WHERE live) AS live, count(*) FILTER (WHERE NOT live) AS backlog "
        "FROM positions WHERE vehicle_id = 'ZQ-0206'")
    assert (counts["live"], counts["backlog"]) == (60, 30)


async def test_refused_by_ingest_means_result_1(start: Start) -> None:
    services, client = await start(**{"ingest.buffer_max_fixes": 2})
    await add_terminal(client, "13900000007", "ZQ-0207", "鲁A·20207", None)
    t = await connect(services, "13900000007")
    try:
        await t.register()
        await t.authenticate()
        now = time.time()
        serial = t.serial
        answer = await t.batch([(36.7, 117.5 + j * 1e-4, now - 60 + j) for j in range(3)], backlog=False)
        assert answer.response == m.PlatformResponse(serial, 0x0704, m.RESULT_FAILURE)
        assert (await t.report(36.7, 117.5, now)).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        await t.close()
    assert await services.pool.fetchval("SELECT count(*) FROM positions") == 1


# --------------------------------------------------------------------------- limits


async def test_error_budget_and_oversized_frames(start: Start) -> None:
    services, client = await start(**{"jt808.error_budget": 3, "jt808.max_frame_bytes": 256})
    t = await connect(services, "13900000008")
    try:
        await t.send_raw(b"\x7e" + b"\x01" * 600 + b"\x7e")  # too large: counted, no header to answer
        frame, serial = t.frame(m.HEARTBEAT)
        await t.send_raw(frame)
        assert (await t.answer_to(serial)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        for _ in range(3):
            frame, serial = t.frame(m.HEARTBEAT)
            await t.send_raw(with_trailing_bytes(frame))
            assert (await t.answer_to(serial)).response.result == m.RESULT_MESSAGE_ERROR  # type: ignore[union-attr]
        with pytest.raises(ConnectionError):  # the oversized frame and three bad ones overspend 3
            await t.receive()
    finally:
        await t.close()
    assert await metric(client, "transit_rejections_total", source="jt808", kind="frame_too_large") == 1
    assert await metric(client, "transit_rejections_total", source="jt808", kind="malformed") == 3
    assert await metric(client, "transit_jt808_connections_closed_total", reason="error_budget") == 1


async def test_connections_per_ip_and_idle_timeout(start: Start) -> None:
    services, client = await start(**{"jt808.max_connections_per_ip": 2, "jt808.idle_timeout_s": 0.4})
    a = await connect(services, "13900000009")
    b = await connect(services, "13900000010")
    c = await connect(services, "13900000011")
    try:
        with pytest.raises(ConnectionError):
            await c.receive()  # refused at accept
        assert await metric(client, "transit_jt808_connections_refused_total", reason="per_ip_limit") == 1
        # a keeps talking, b stays silent and is closed as idle.
        for _ in range(6):
            assert (await a.heartbeat()).response.result == m.RESULT_OK  # type: ignore[union-attr]
            await asyncio.sleep(0.1)
        with pytest.raises(ConnectionError):
            await b.receive()
        assert (await a.heartbeat()).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        for t in (a, b, c):
            await t.close()
    assert await metric(client, "transit_jt808_connections_closed_total", reason="idle") >= 1


async def test_deleting_a_terminal_closes_its_connection(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000012", "ZQ-0212", "鲁A·20212", None)
    t = await connect(services, "13900000012")
    try:
        await t.register()
        await t.authenticate()
        listed = await (await client.get("/api/v1/admin/terminals/13900000012", headers=admin_headers())).json()
        assert listed["connection"]["vehicle_id"] == "ZQ-0212"
        resp = await client.delete("/api/v1/admin/terminals/13900000012", headers=admin_headers())
        assert resp.status == 204
        with pytest.raises(ConnectionError):
            await t.receive()
    finally:
        await t.close()


async def test_2019_replies_use_the_2019_header(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000013", "ZQ-0213", "鲁A·20213", None)
    t = await connect(services, "13900000013", EDITION_2019)
    try:
        await t.register()
        serial = t.serial
        await t.authenticate()
        reply = t.raw_received[-1]
        assert reply[1:5] == bytes.fromhex("8001" "4005") and reply[5] == 1  # version flag, protocol 1
        assert reply[6:16] == phone_to_bcd("13900000013", EDITION_2019)
        assert reply == expected_ack(t, 1, serial, 0x0102, 0)
    finally:
        await t.close()
    text = await (await client.get("/metrics")).text()
    assert re.search(r'transit_jt808_messages_total\{msg_id="0x0102"\} 1\.0', text)


async def test_incomplete_subpackages_are_asked_for_again(start: Start) -> None:
    services, client = await start(**{"jt808.idle_timeout_s": 1.0})  # the sweeper runs every 0.25 s
    services.extras["jt808"].subpackage_timeout_s = 0.3
    await add_terminal(client, "13900000014", "ZQ-0214", "鲁A·20214", None)
    t = await connect(services, "13900000014")
    try:
        await t.register()
        await t.authenticate()
        body = encode_batch([encode_location(36.7, 117.5 + j * 1e-4, time.time() - 600 + j) for j in range(9)], 1)
        parts = [body[i:i + 120] for i in range(0, len(body), 120)]
        assert len(parts) == 3
        first_serial = t.serial
        sent = []
        for i, part in enumerate(parts, 1):
            frame, serial = t.frame(m.BATCH, part, package=(3, i))
            if i != 2:  # package 2 is lost on the way
                await t.send_raw(frame)
                sent.append(serial)
        for serial in sent:
            assert (await t.answer_to(serial)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        request = await t.receive()
        assert request.header.msg_id == m.RESEND_REQUEST
        assert request.body == first_serial.to_bytes(2, "big") + b"\x01" + (2).to_bytes(2, "big")
    finally:
        await t.close()
    assert await services.pool.fetchval("SELECT count(*) FROM positions") == 0


async def test_positions_without_a_fix_are_answered_but_not_stored(start: Start) -> None:
    services, client = await start()
    await add_terminal(client, "13900000015", "ZQ-0215", "鲁A·20215", None)
    t = await connect(services, "13900000015")
    now = time.time()
    try:
        await t.register()
        await t.authenticate()
        no_fix = encode_location(36.7, 117.5, now - 5, status=0)  # status bit 1 clear
        assert (await t.request(m.LOCATION, no_fix)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        null_island = encode_location(0.0, 0.0, now - 4)
        assert (await t.request(m.LOCATION, null_island)).response.result == m.RESULT_OK  # type: ignore[union-attr]
        assert (await t.report(36.7, 117.5, now - 3)).response.result == m.RESULT_OK  # type: ignore[union-attr]
    finally:
        await t.close()
    assert await services.pool.fetchval("SELECT count(*) FROM positions") == 1
    assert await metric(client, "transit_rejections_total", source="jt808", kind="invalid_coordinates") == 1
    assert await metric(client, "transit_rejections_total", source="jt808", kind="null_island") == 1
