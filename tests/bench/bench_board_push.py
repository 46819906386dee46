"""Benchmark: frames pushed over MQTT to 10,000 boards after one snapshot change.

    .venv/bin/python tests/bench/bench_board_push.py [--boards 10000]

Needs Mosquitto on 127.0.0.1:1883 (or $TRANSIT_BENCH_MQTT_URL) and PostgreSQL
($TRANSIT_TEST_DATABASE_URL's server).  Registers the boards (delivery mqtt, JSON and raw frames,
several layouts) on the demo network in a throwaway database and runs, in three processes:

- the service's board component with MQTT push on (the real publisher, frame service, registry);
- one MQTT client subscribed to every board's frame topic, standing in for the 10,000 boards;
- this process, which coordinates.

Once every board has its first frame, the service publishes a new predictions snapshot (buses on
the timetable turn from 计划 to real-time).  Printed: how many boards' frames changed, and the time
from the snapshot to the last board having its new frame, unpaced and paced at the configured
``max_frames_per_s``.  Baseline, same run: the same number of bare publishes of frames of the
same size from one client to the same subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

SERVER_URL = os.environ.get("TRANSIT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("TRANSIT_BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")


# ------------------------------------------------------------------------------ subscriber process

def subscriber_main(conn: Any, prefix: str) -> None:
    asyncio.run(_subscriber(conn, prefix))


async def _subscriber(conn: Any, prefix: str) -> None:
    """Counts frames per board; on ("wait", n, after_ts) answers when n boards have a frame
    published after after_ts: (last arrival, boards, messages)."""
    import aiomqtt

    from display.mqtt import client_options

    loop = asyncio.get_running_loop()
    arrivals: dict[str, float] = {}
    messages = 0
    since = 0.0
    async with aiomqtt.Client(**client_options(MQTT_URL), identifier=f"bench-sub-{prefix}",
                              max_queued_incoming_messages=0) as client:
        await client.subscribe("transit/boards/+/frame", qos=1)
        await client.subscribe(f"bench/{prefix}/+", qos=1)

        async def pump() -> None:
            nonlocal messages
            async for message in client.messages:
                topic = str(message.topic)
                if prefix not in topic or not message.payload:
                    continue
                now = time.time()
                if now >= since:
                    messages += 1
                    arrivals[topic.split("/")[2]] = now

        task = asyncio.create_task(pump())
        conn.send("ready")
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                break
            _, wanted, since_ts, timeout_s = command  # wanted: a count, or the board ids
            since = since_ts
            arrivals = {k: v for k, v in arrivals.items() if v >= since_ts}
            messages = 0
            deadline = time.monotonic() + timeout_s

            def pending(wanted: Any = wanted, arrivals: dict[str, float] = arrivals) -> bool:
                if isinstance(wanted, int):
                    return len(arrivals) < wanted
                return any(b not in arrivals for b in wanted)

            while pending() and time.monotonic() < deadline:  # noqa: ASYNC110 (polling a count)
                await asyncio.sleep(0.01)
            times = sorted(arrivals[b] for b in (arrivals if isinstance(wanted, int) else wanted) if b in arrivals)
            conn.send((times[-1] if times else 0.0, len(arrivals), messages,
                       [times[int(q * (len(times) - 1))] - since_ts for q in (0.0, 0.5, 0.9, 0.99)] if times else []))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ------------------------------------------------------------------------------ service process

def service_main(conn: Any, dsn: str, start_ts: float, max_frames_per_s: float) -> None:
    asyncio.run(_service(conn, dsn, start_ts, max_frames_per_s))


async def _service(conn: Any, dsn: str, start_ts: float, max_frames_per_s: float) -> None:
    from aiohttp import web
    from bench_boards import _snapshot_at

    from display.boards import BOARDS
    from transit.app import runtime
    from transit.app.server import create_app
    from transit.core.clock import ManualClock
    from transit.settings import load_settings

    settings = load_settings(environ={}, overrides={
        "database.url": dsn, "http.port": 0, "mqtt.url": MQTT_URL, "mqtt.max_frames_per_s": max_frames_per_s,
        "log_level": "WARNING"})
    loop = asyncio.get_running_loop()
    # a clock that stands still: the snapshot is the only thing that changes frames
    async with runtime.services(settings, clock=ManualClock(start_ts)) as svc:
        app = create_app(svc, components=["display.component:setup"])
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()  # runs the component's start-up: registry, health, MQTT publisher
        boards = app[BOARDS]
        publisher = boards.publisher  # type: ignore[attr-defined]
        while not publisher.connected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        conn.send("ready")
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "snapshot":
                svc.clock.advance(0.001)  # marks what is sent from now on (no minute ticks over)
                t0 = time.time()
                at = svc.clock.now()
                svc.snapshots.publish(_snapshot_at(svc.schedule.get(), at, 1, {}))
                longest = 0.0
                while True:
                    await asyncio.sleep(0.05)
                    longest = max(longest, publisher.last_cycle_s)
                    stats = publisher.statistics()
                    if not stats["pending"] and time.monotonic() - publisher.last_publish_monotonic > 1.0:
                        break
                # the boards whose frame the snapshot changed (sent again by the publisher after it)
                changed = sorted(b for b, (_, sent_at) in publisher._sent.items() if sent_at >= at)
                conn.send((t0, changed, longest))
        await runner.cleanup()


# ------------------------------------------------------------------------------ coordinator

async def bare_publishes(prefix: str, payloads: list[bytes]) -> float:
    """The baseline: the same frames as bare QoS 1 retained publishes from one client."""
    import aiomqtt

    from display.mqtt import MAX_IN_FLIGHT, client_options

    async with aiomqtt.Client(**client_options(MQTT_URL), identifier=f"bench-bare-{prefix}",
                              max_inflight_messages=MAX_IN_FLIGHT) as client:
        client.pending_calls_threshold = 10**9
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        t0 = time.time()

        async def one(i: int, payload: bytes) -> None:
            async with slots:
                await client.publish(f"bench/{prefix}/B{i:05d}", payload, qos=1, retain=False)

        await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads)))
        return t0


async def prepare(dsn: str, prefix: str, n: int) -> tuple[float, int]:
    import asyncpg

    from display.board_spec import BoardSpec
    from display.registry import save_boards
    from feeds.gtfs import import_gtfs
    from transit.db.migrate import apply_migrations
    from transit.db.pool import create_pool
    from transit.schedule.load import load_schedule
    from transit.schedule.timetable import instances_between

    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn, 1, 4)
    try:
        await import_gtfs(pool, ROOT / "transit" / "demo" / "network")
        index = await load_schedule(pool)
        assert index is not None
        import datetime as dt

        start_ts = 0.0
        for shift in range(14):
            ts = dt.datetime.combine(dt.date.today() + dt.timedelta(days=shift), dt.time(8, 0), index.tz).timestamp()
            if len(instances_between(index, ts, ts)) > 5:
                start_ts = ts
                break
        stops = [s for i, s in enumerate(index.stop_ids) if index.routes_at_stop(i)]
        specs = []
        for i in range(n):
            kind = i % 4
            rows, cols, langs = ((4, 32, "zh"), (2, 24, "zh"), (8, 48, "zh+en"), (4, 32, "zh"))[kind]
            specs.append(BoardSpec(f"{prefix}-{i:05d}", (stops[i % len(stops)],), (), rows, cols, "GB2312", langs,
                                   None, 600.0, "bench", paging=False, delivery="mqtt",
                                   frame_format="raw" if kind == 3 else "json"))
        for chunk in range(0, n, 2000):
            await save_boards(pool, specs[chunk:chunk + 2000], time.time())
    finally:
        await pool.close()
    return start_ts, len(stops)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


async def one_run(ctx: Any, dsn: str, start_ts: float, prefix: str, n: int, rate: float,
                  sub: Any) -> tuple[float, int, float, list[float]]:
    """Start the service, let every board get its first frame, change the snapshot, measure:
    (seconds to the last board's frame, boards changed, render cycle seconds, arrival quantiles)."""
    parent, child = ctx.Pipe()
    service = ctx.Process(target=service_main, args=(child, dsn, start_ts, rate))
    started = time.time()
    service.start()
    try:
        assert parent.recv() == "ready"
        sub.send(("wait", n, started, 300.0))
        _, got, _, _ = sub.recv()
        if got < n:
            raise RuntimeError(f"only {got} of {n} boards got their first frame")
        parent.send("snapshot")
        t0, changed_ids, cycle_s = parent.recv()
        changed = len(changed_ids)
        sub.send(("wait", changed_ids, t0, 120.0))
        last, got, _, quantiles = sub.recv()
        if got < changed:
            print(f"warning: only {got} of the {changed} changed frames arrived")
        return last - t0, changed, cycle_s, quantiles
    finally:
        parent.send("stop")
        service.join(60)


async def main(args: argparse.Namespace) -> None:
    import asyncpg

    prefix = f"PB{uuid.uuid4().hex[:6]}"
    name = f"bench_push_{os.getpid()}_{prefix.lower()}"
    admin = await asyncpg.connect(SERVER_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = _with_database(SERVER_URL, name)
    ctx = mp.get_context("spawn")
    sub_parent, sub_child = ctx.Pipe()
    subscriber = ctx.Process(target=subscriber_main, args=(sub_child, prefix))
    try:
        t = time.perf_counter()
        start_ts, stops = await prepare(dsn, prefix, args.boards)
        print(f"setup: {args.boards} MQTT boards at {stops} stops of the demo network in "
              f"{time.perf_counter() - t:.1f} s; broker {MQTT_URL.rsplit('@', 1)[-1]}")
        subscriber.start()
        assert sub_parent.recv() == "ready"

        results = {}
        for label, rate in (("unpaced", 1e9), (f"paced at {args.rate:g}/s", args.rate)):
            results[label] = await one_run(ctx, dsn, start_ts, prefix, args.boards, rate, sub_parent)

        # baseline: bare publishes of payloads of the same sizes
        sample = json.dumps({"rows": ["1路 山东大学(章丘)            计划 08:11"] * 4, "arrivals": []},
                            ensure_ascii=False).encode()
        payloads = [sample] * results["unpaced"][1]
        bare_t0 = time.time()
        sub_parent.send(("wait", len(payloads), bare_t0, 120.0))
        t0 = await bare_publishes(prefix, payloads)
        last, got, _, _ = sub_parent.recv()
        bare = last - t0
        if got < len(payloads):
            print(f"warning: the baseline subscriber got {got} of {len(payloads)} messages")

        changed = results["unpaced"][1]
        print(f"one snapshot change: {changed} of {args.boards} boards' frames changed "
              f"(render cycle {results['unpaced'][2] * 1000:.0f} ms)")
        print(f"  baseline, {len(payloads)} bare QoS 1 publishes from one client: last received after "
              f"{bare:.2f} s ({len(payloads) / bare:,.0f}/s)")
        for label, (elapsed, n_changed, _, q) in results.items():
            print(f"  push, {label:<20}: last board has its frame after {elapsed:.2f} s "
                  f"({n_changed / elapsed:,.0f} frames/s, {elapsed / bare:.2f}x the baseline); "
                  f"half the boards had it after {q[1]:.2f} s, 90% after {q[2]:.2f} s")
    finally:
        with contextlib.suppress(Exception):
            sub_parent.send(("stop",))
        subscriber.join(30)
        admin = await asyncpg.connect(SERVER_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await clear_retained(prefix, args.boards)


async def clear_retained(prefix: str, n: int) -> None:
    import aiomqtt

    from display.mqtt import client_options, frame_topic

    async with aiomqtt.Client(**client_options(MQTT_URL)) as client:
        client.pending_calls_threshold = 10**9
        await asyncio.gather(*(client.publish(frame_topic(f"{prefix}-{i:05d}"), b"", qos=1, retain=True)
                               for i in range(n)))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--boards", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=2000.0, help="max_frames_per_s of the paced run (default: "
                   "the setting's default)")
    asyncio.run(main(p.parse_args()))
