"""JT/T 808 ingest benchmarks: 0x0200 decode rate, and end-to-end TCP ingest with 1,000 terminals.

    TRANSIT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python tests/bench/bench_ingest_jt808.py [--frames 50000] [--terminals 1000] [--seconds 20]

1. **Decode** (one core, one thread): distinct 0x0200 frames, as terminals send them (mileage,
   signal and satellite items; some with escapes), through what the server does per frame:
   un-escape, check code, header, body, and the conversion to a ``Fix``.  Baseline from the same
   run: the bare framing work any decoder must do on the same frames (``bytes.replace`` un-escape
   plus the XOR check code, the same fold the decoder uses).  Target >= 100,000 frames/s.

2. **TCP end to end**: N terminals (a separate client process, so it does not share the server's
   core) authenticate, then each sends a 0x0200 every second for the measured window, staggered
   over the second.  Through the real app: JT/T 808 server, ingest pipeline, COPY and commit in
   PostgreSQL; each 0x8001 is written after the commit.  Reports the sustained acknowledged rate
   and the p50/p99 latency from send to acknowledgement, and checks that every acknowledged fix
   is in the database.  Baseline from the same run: the same client against a bare asyncio TCP
   server that only acknowledges each frame (no decode, no storage).  Target p99 < 200 ms.

``tests/bench/bench_ingest.py`` calls :func:`bench_decode` and :func:`bench_tcp`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from feeds.gps.jt808 import messages as m  # noqa: E402
from feeds.gps.jt808.codec import Decoded, decode  # noqa: E402
from feeds.gps.jt808.framing import FrameSplitter, unescape, xor_checksum  # noqa: E402
from feeds.gps.jt808.location import LocationReport, encode_items, encode_location  # noqa: E402
from feeds.gps.jt808.packet import EDITION_2013, decode_frame, encode_packet, phone_to_bcd  # noqa: E402
from feeds.gps.jt808.terminal import Terminal, report_to_fix  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


# --------------------------------------------------------------------------- decode rate


def make_frames(n: int, now: float | None = None) -> list[bytes]:
    """``n`` distinct 0x0200 frame contents (without the flags) from 1,000 terminals."""
    now = time.time() if now is None else now
    out = []
    for i in range(n):
        phone = phone_to_bcd(f"1380{i % 1000:07d}", EDITION_2013)
        body = encode_location(36.68 + (i % 997) * 1e-5, 117.50 + (i % 991) * 1e-5, now - (i % 600),
                               speed_kmh=(i % 60) * 1.0, direction_deg=i % 360,
                               items=encode_items(mileage_km=10000 + i * 0.1, signal_strength=20 + i % 10,
                                                  satellites=5 + i % 12))
        out.append(encode_packet(m.LOCATION, body, phone, i & 0xFFFF)[1:-1])
    return out


def _decode_all(frames: list[bytes], terminal: Terminal, received_ts: float) -> int:
    fixes = 0
    for content in frames:
        result = decode(content)
        if isinstance(result, Decoded) and isinstance(result.message, LocationReport):
            fix = report_to_fix(result.message, terminal, received_ts)
            fixes += not isinstance(fix, Exception)
    return fixes


def _bare_framing(frames: list[bytes]) -> int:
    ok = 0
    for content in frames:
        data = unescape(content)
        if data is not None and xor_checksum(data[:-1]) == data[-1]:
            ok += 1
    return ok


def bench_decode(n_frames: int = 50_000, rounds: int = 5) -> dict[str, Any]:
    frames = make_frames(n_frames)
    escaped = sum(1 for f in frames if b"\x7d" in f)
    terminal = Terminal("13800000000", "ZQ-0001", "鲁A·00001", "K301")
    assert _decode_all(frames[:100], terminal, time.time()) == 100
    ours, bare = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        _decode_all(frames, terminal, time.time())
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _bare_framing(frames)
        bare.append(time.perf_counter() - t0)
    rate = n_frames / min(ours)
    bare_rate = n_frames / min(bare)
    return {"frames": n_frames, "escaped": escaped, "rate": rate, "bare_rate": bare_rate,
            "ratio": rate / bare_rate, "target": 100_000}


def print_decode(r: dict[str, Any]) -> None:
    print(f"JT/T 808 0x0200 decode, one core ({r['frames']:,} distinct frames, {r['escaped']:,} with escapes)")
    print(f"  decode to Fix:           {r['rate']:>12,.0f} frames/s   (target >= {r['target']:,})")
    print(f"  baseline un-escape+XOR:  {r['bare_rate']:>12,.0f} frames/s")
    print(f"  ratio decode/baseline:   {r['ratio']:>12.2f}")


# --------------------------------------------------------------------------- TCP end to end


class _ClientConn(asyncio.Protocol):
    def __init__(self, client: _Client, phone: str, code: str) -> None:
        self.client = client
        self.phone = phone
        self.code = code
        self.bcd = phone_to_bcd(phone, EDITION_2013)
        self.serial = 0
        self.sent: dict[int, float] = {}
        self.splitter = FrameSplitter(1 << 16)
        self.transport: asyncio.Transport | None = None
        self.authenticated = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, msg_id: int, body: bytes) -> None:
        serial = self.serial
        self.serial = (serial + 1) & 0xFFFF
        assert self.transport is not None
        self.sent[serial] = time.perf_counter()
        self.transport.write(encode_packet(msg_id, body, self.bcd, serial))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        for item in self.splitter.feed(data):
            if not isinstance(item, bytes):
                continue
            packet = decode_frame(item)
            if isinstance(packet, Exception) or not hasattr(packet, "body"):
                self.client.errors += 1
                continue
            resp = m.decode_platform_response(packet.body)
            if not isinstance(resp, m.PlatformResponse):
                continue
            t0 = self.sent.pop(resp.reply_serial, None)
            if resp.reply_id == m.AUTHENTICATE:
                if not self.authenticated.done():
                    self.authenticated.set_result(resp.result)
            elif resp.reply_id == m.LOCATION and t0 is not None:
                self.client.record(now, now - t0, resp.result)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.authenticated.done():
            self.authenticated.set_result(-1)


class _Client:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.acks: list[float] = []
        self.failed = 0
        self.errors = 0
        self.window = (0.0, 0.0)

    def record(self, at: float, latency: float, result: int) -> None:
        if result != m.RESULT_OK:
            self.failed += 1
            return
        self.acks.append(at)
        if self.window[0] <= at - latency < self.window[1]:
            self.latencies.append(latency)


async def _run_client(port: int, terminals: list[tuple[str, str]], seconds: float, warmup_s: float,
                      interval_s: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    client = _Client()
    conns: list[_ClientConn] = []

    def factory(phone: str, code: str) -> Callable[[], _ClientConn]:
        return lambda: _ClientConn(client, phone, code)

    for i in range(0, len(terminals), 100):  # connect in waves, like a fleet after a restart
        made = await asyncio.gather(*[
            loop.create_connection(factory(p, c), "127.0.0.1", port) for p, c in terminals[i:i + 100]])
        conns.extend(proto for _, proto in made)
    for conn in conns:
        conn.send(m.AUTHENTICATE, conn.code.encode())
    results = await asyncio.gather(*[c.authenticated for c in conns])
    authenticated = sum(1 for r in results if r == 0)
    start = time.perf_counter() + 0.1
    end = start + warmup_s + seconds
    client.window = (start + warmup_s, end)
    n = len(conns)

    first_ts = int(time.time())

    async def drive(k: int, conn: _ClientConn) -> None:
        t = start + k * interval_s / n  # staggered across the interval
        i = 0
        while t < end and not conn.closed:
            await asyncio.sleep(max(0.0, t - time.perf_counter()))
            # GNSS time has whole seconds: each report gets its own second, so none is a duplicate.
            body = encode_location(36.68 + k * 1e-5, 117.50 + i * 1e-5, first_ts + i, speed_kmh=20.0,
                                   direction_deg=90, items=encode_items(mileage_km=1000 + i * 0.01))
            conn.send(m.LOCATION, body)
            i += 1
            t += interval_s

    await asyncio.gather(*[drive(k, c) for k, c in enumerate(conns)])
    await asyncio.sleep(2.0)  # let the last acks arrive
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    lat = sorted(client.latencies)
    return {
        "terminals": n, "authenticated": authenticated, "acked": len(client.acks), "failed": client.failed,
        "errors": client.errors,
        "acked_in_window": len(lat),
        "window_rate": len(lat) / seconds,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "max_ms": 1000 * lat[-1] if lat else float("nan"),
    }


def _client_process(port: int, terminals: list[tuple[str, str]], seconds: float, warmup_s: float,
                    interval_s: float, out: Any) -> None:
    out.put(asyncio.run(_run_client(port, terminals, seconds, warmup_s, interval_s)))


async def _in_client_process(port: int, terminals: list[tuple[str, str]], seconds: float,
                             warmup_s: float, interval_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_client_process, args=(port, terminals, seconds, warmup_s, interval_s, queue),
                       daemon=True)
    proc.start()
    try:
        while True:
            try:
                result: dict[str, Any] = await asyncio.to_thread(queue.get, True, 1.0)
                return result
            except Exception:
                if not proc.is_alive():
                    raise RuntimeError("the client process died") from None
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


class _BareAck(asyncio.Protocol):
    """The baseline: split on 0x7E and answer every frame with a 0x8001, nothing else."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""
        self.serial = 0

    def data_received(self, data: bytes) -> None:
        parts = (self.buf + data).split(b"\x7e")
        self.buf = parts.pop()
        out = bytearray()
        for content in parts:
            if len(content) < 13:
                continue
            body = content[10:12] + content[0:2] + b"\x00"  # serial, msg id, result 0
            out += encode_packet(m.PLATFORM_RESPONSE, body, content[4:10], self.serial)
            self.serial = (self.serial + 1) & 0xFFFF
        self.transport.write(out)


async def _fresh_database(server: str) -> tuple[str, str]:
    import asyncpg

    from transit.db.migrate import apply_migrations

    name = f"bench_jt808_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = server.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return name, dsn


async def _drop_database(server: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def bench_tcp(server: str = DEFAULT_SERVER, terminals: int = 1000, seconds: float = 20.0,
                    warmup_s: float = 3.0, interval_s: float = 1.0) -> dict[str, Any]:
    """Both runs (the service, then the bare acknowledging server) with the same client load:
    ``terminals`` each reporting every ``interval_s``."""
    from aiohttp import web

    from feeds.gps.jt808.registry import TerminalRegistry
    from transit.app.server import create_app
    from transit.app.services import Services
    from transit.db.pool import create_pool
    from transit.settings import load_settings

    fleet = [(f"1390{i:07d}", f"CODE{i:06d}") for i in range(terminals)]
    name, dsn = await _fresh_database(server)
    try:
        settings = load_settings(environ={}, overrides={
            "database.url": dsn, "jt808.host": "127.0.0.1", "jt808.port": 0, "http.port": 0,
            "jt808.max_connections_per_ip": terminals + 10, "log_level": "WARNING",
        })
        pool = await create_pool(dsn, settings.database.pool_min, settings.database.pool_max)
        try:
            registry = TerminalRegistry(pool)
            await registry.import_terminals(
                Terminal(p, f"ZQ-{i:04d}", f"鲁A·{i:05d}", f"K{300 + i % 20}") for i, (p, _) in enumerate(fleet))
            await pool.executemany("UPDATE jt808_terminals SET auth_code = $2 WHERE phone = $1", fleet)
            services = Services(settings=settings, pool=pool)
            app = create_app(services, components=[
                "transit.app.health:setup", "feeds.gps.component:setup", "feeds.gps.jt808.component:setup"])
            runner = web.AppRunner(app)
            await runner.setup()  # starts the pipeline and the JT/T 808 server (no HTTP site needed)
            try:
                port = services.extras["jt808"].port
                ours = await _in_client_process(port, fleet, seconds, warmup_s, interval_s)
            finally:
                await runner.cleanup()
            ours["stored"] = await pool.fetchval("SELECT count(*) FROM positions")
        finally:
            await pool.close()
    finally:
        await _drop_database(server, name)

    loop = asyncio.get_running_loop()
    bare_server = await loop.create_server(_BareAck, "127.0.0.1", 0, backlog=4096)
    try:
        bare = await _in_client_process(bare_server.sockets[0].getsockname()[1], fleet, seconds, warmup_s,
                                        interval_s)
    finally:
        bare_server.close()
    return {"service": ours, "bare": bare, "seconds": seconds, "interval_s": interval_s}


def print_tcp(r: dict[str, Any]) -> None:
    s, b = r["service"], r["bare"]
    print(f"JT/T 808 TCP ingest end to end: {s['terminals']:,} terminals x 1 report every "
          f"{r['interval_s']:g} s, {r['seconds']:.0f} s measured (client in its own process)")
    print(f"  service: authenticated {s['authenticated']:,}, sustained {s['window_rate']:>8,.0f} acks/s, "
          f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms "
          f"(target p99 < 200 ms)")
    print(f"           acknowledged {s['acked']:,}, refused {s['failed']:,}, stored in PostgreSQL {s['stored']:,}"
          + ("  OK: every acknowledged fix is stored" if s["stored"] >= s["acked"] else "  LOST FIXES"))
    print(f"  bare asyncio ack server: sustained {b['window_rate']:>8,.0f} acks/s, "
          f"p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, max {b['max_ms']:.1f} ms")
    print(f"  ratio rate service/bare: {s['window_rate'] / max(b['window_rate'], 1e-9):.2f}; "
          f"p99 service/bare: {s['p99_ms'] / max(b['p99_ms'], 1e-9):.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between two reports of one terminal (1.0: the target load; "
                        "less: headroom)")
    parser.add_argument("--skip-tcp", action="store_true", help="only the decode rate")
    args = parser.parse_args()
    print_decode(bench_decode(args.frames))
    if not args.skip_tcp:
        server = os.environ.get("TRANSIT_TEST_DATABASE_URL", DEFAULT_SERVER)
        print_tcp(asyncio.run(bench_tcp(server, args.terminals, args.seconds, interval_s=args.interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
