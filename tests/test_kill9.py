"""``transit serve`` killed with SIGKILL in the middle of ingest: after a restart, every fix it had
acknowledged (HTTP 200, listed as accepted) is in PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.conftest import INGEST_TOKEN, ingest_headers

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(db_url: str, port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRANSIT_")},
        "TRANSIT_DATABASE_URL": db_url,
        "TRANSIT_INGEST_TOKEN": INGEST_TOKEN,
        "TRANSIT_HTTP_PORT": str(port),
        "TRANSIT_JT808_PORT": "0",
        "TRANSIT_DATA_DIR": str(data_dir),
    }
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "transit.cli", "serve"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"transit serve exited with {proc.returncode}:\n{tail(log)}")
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"transit serve did not come up:\n{tail(log)}")


async def sender(session: aiohttp.ClientSession, base: str, k: int, acked: set[tuple[str, float]],
                 stop: asyncio.Event, enough: asyncio.Event) -> None:
    """Post batches of 100 fixes until stopped or the server dies; remember what was accepted."""
    t0 = time.time() - 600
    n = 0
    while not stop.is_set():
        items = [{"vehicle_id": f"s{k}-{j % 10}", "ts": round(t0 + n + j / 1000, 3), "lat": 36.7, "lon": 117.5}
                 for j in range(100)]
        n += 1
        try:
            async with session.post(base + "/api/v1/ingest/positions", json=items, headers=ingest_headers()) as resp:
                if resp.status != 200:
                    continue
                answer = await resp.json()
        except (TimeoutError, aiohttp.ClientError):
            return
        rejected = {r["index"] for r in answer["rejected"]}
        assert not rejected, answer["rejected"][:3]
        acked.update((it["vehicle_id"], it["ts"]) for i, it in enumerate(items) if i not in rejected)
        if len(acked) >= 20_000:
            enough.set()


async def test_every_acknowledged_fix_survives_sigkill(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    proc = start_service(db_url, port, tmp_path / "data", log)
    acked: set[tuple[str, float]] = set()
    try:
        await wait_healthy(base, proc, log)
        stop, enough = asyncio.Event(), asyncio.Event()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            senders = [asyncio.create_task(sender(session, base, k, acked, stop, enough)) for k in range(8)]
            waiter = asyncio.create_task(enough.wait())
            await asyncio.wait([waiter, *senders], timeout=60, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            proc.send_signal(signal.SIGKILL)  # mid-ingest: senders have requests in flight
            proc.wait(10)
            stop.set()
            await asyncio.gather(*senders)
        assert len(acked) >= 1000, f"too little was acknowledged before the kill:\n{tail(log)}"

        proc = start_service(db_url, port, tmp_path / "data", log)
        await wait_healthy(base, proc, log)
        conn: Any = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch("SELECT vehicle_id, round(extract(epoch FROM ts)::numeric, 3)::float8 AS ts "
                                    "FROM positions")
        finally:
            await conn.close()
        stored = {(r["vehicle_id"], r["ts"]) for r in rows}
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged fixes lost, e.g. {sorted(missing)[:5]}"

        # The restarted service takes the senders' retries: acknowledged ones are duplicates now.
        async with aiohttp.ClientSession() as session:
            some = sorted(acked)[:50]
            items = [{"vehicle_id": v, "ts": ts, "lat": 36.7, "lon": 117.5} for v, ts in some]
            async with session.post(base + "/api/v1/ingest/positions", json=items, headers=ingest_headers()) as resp:
                answer = await resp.json()
            assert answer["accepted"] == 0 and {r["kind"] for r in answer["rejected"]} == {"duplicate"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
