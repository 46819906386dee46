"""Fare batches into PostgreSQL: idempotent by transaction id, aggregates replaced, roll-ups exact,
bad rows answered with their lines and counted in /metrics; HTTP and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg

from feeds.fares.parse import FareLimits, decode_csv
from feeds.fares.store import list_daily, rebuild_daily, store_batch
from tests.conftest import admin_headers, ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.settings import Settings

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
LIMITS = FareLimits(now=NOW)
TX = "transaction_id,time,line,vehicle,stop_id,channel,amount_fen\n"
AGG = "line,vehicle,date,channel,boardings,source\n"
COMPONENTS = ["transit.app.health:setup", "feeds.fares.http:setup"]


def transactions(n: int, start: int = 0, channel: str = "wechat", day: int = 3) -> bytes:
    rows = "".join(f"T{i},2026-11-{day:02d}T08:{i % 60:02d}:00+08:00,R1,B1,A,{channel},200\n"
                   for i in range(start, start + n))
    return (TX + rows).encode()


async def daily(pool: asyncpg.Pool) -> dict[tuple[str, str], int]:
    rows = await list_daily(pool, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    return {(r.route_id, r.channel): r.boardings for r in rows}


async def test_reimporting_a_batch_counts_each_transaction_once(pool: asyncpg.Pool) -> None:
    first = await store_batch(pool, decode_csv(transactions(100), LIMITS), "test")
    assert (first.inserted, first.duplicates) == (100, 0)
    again = await store_batch(pool, decode_csv(transactions(100), LIMITS), "test")
    assert (again.inserted, again.duplicates) == (0, 100)
    overlap = await store_batch(pool, decode_csv(transactions(100, start=50), LIMITS), "test")
    assert (overlap.inserted, overlap.duplicates) == (50, 50)
    assert await pool.fetchval("SELECT count(*) FROM fare_transactions") == 150
    assert await daily(pool) == {("R1", "wechat"): 150}
    amount = await pool.fetchval("SELECT sum(amount_fen) FROM fare_daily")
    assert amount == 150 * 200


async def test_a_batch_with_the_same_id_twice_counts_it_once(pool: asyncpg.Pool) -> None:
    data = (TX + "D1,2026-11-03T08:00:00+08:00,R1,B1,A,wechat,200\nD1,2026-11-03T08:00:00+08:00,R1,B1,A,wechat,200\n")
    result = await store_batch(pool, decode_csv(data.encode(), LIMITS), "test")
    assert (result.inserted, result.duplicates) == (1, 1)
    assert await daily(pool) == {("R1", "wechat"): 1}


async def test_aggregates_replace_and_count_as_the_larger_of_total_and_transactions(pool: asyncpg.Pool) -> None:
    await store_batch(pool, decode_csv(transactions(5, channel="cash"), LIMITS), "test")
    assert await daily(pool) == {("R1", "cash"): 5}
    # A fare-box total for the same vehicle, day and channel covers those five: 40 in all, not 45.
    agg = (AGG + "R1,B1,2026-11-03,cash,40,fare_box\nR1,B2,2026-11-03,cash,7,fare_box\n").encode()
    result = await store_batch(pool, decode_csv(agg, LIMITS), "test")
    assert result.aggregates == 2
    assert await daily(pool) == {("R1", "cash"): 47}
    # Sent again with a corrected count: replaced, not added.
    again = (AGG + "R1,B1,2026-11-03,cash,30,fare_box\nR1,B1,2026-11-03,cash,35,fare_box\n").encode()
    await store_batch(pool, decode_csv(again, LIMITS), "test")  # the later row of the batch wins
    assert await daily(pool) == {("R1", "cash"): 42}
    # A total below the individual count never hides transactions.
    await store_batch(pool, decode_csv((AGG + "R1,B1,2026-11-03,cash,2,passenger_counter\n").encode(), LIMITS), "t")
    assert await daily(pool) == {("R1", "cash"): 12}
    assert await pool.fetchval("SELECT source FROM fare_aggregates WHERE vehicle_id = 'B1'") == "passenger_counter"


async def test_rebuilding_the_roll_ups_gives_the_same_figures(pool: asyncpg.Pool) -> None:
    await store_batch(pool, decode_csv(transactions(30), LIMITS), "test")
    await store_batch(pool, decode_csv(transactions(10, start=100, channel="cash", day=4), LIMITS), "test")
    await store_batch(pool, decode_csv((AGG + "R1,B1,2026-11-04,cash,25,\nR2,B9,2026-11-04,cash,3,\n").encode(),
                                       LIMITS), "test")
    before = await pool.fetch("SELECT * FROM fare_daily ORDER BY 1, 2, 3, 4")
    await pool.execute("UPDATE fare_daily SET transactions = 0")  # damage them
    assert await rebuild_daily(pool, dt.date(2026, 11, 1), dt.date(2026, 11, 30)) == len(before)
    assert await pool.fetch("SELECT * FROM fare_daily ORDER BY 1, 2, 3, 4") == before


async def test_batches_are_recorded_with_their_rejections(pool: asyncpg.Pool) -> None:
    data = TX + "G1,2026-11-03T08:00:00+08:00,R1,B1,A,wechat,200\nG2,2026-11-03T08:00:00+08:00,R1,B1,A,x,200\n"
    result = await store_batch(pool, decode_csv(data.encode(), LIMITS), "http")
    row = await pool.fetchrow("SELECT * FROM fare_batches WHERE batch_id = $1", result.batch_id)
    assert (row["rows"], row["transactions_new"], row["rejected"]) == (2, 1, 1)
    assert row["rejections"][0]["index"] == 3 and row["rejections"][0]["kind"] == "bad_value"


def _services(settings: Settings, pool: asyncpg.Pool) -> Services:
    return Services(settings=settings, pool=pool, clock=ManualClock(NOW))


async def test_http_ingest_answers_row_by_row_and_counts_rejections(aiohttp_client, settings: Settings,
                                                                   pool: asyncpg.Pool) -> None:
    client = await aiohttp_client(create_app(_services(settings, pool), components=COMPONENTS))
    body = (TX + "H1,2026-11-03T08:00:00+08:00,R1,B1,A,wechat,200\n"
                 "H2,2026-11-03T08:01:00+08:00,R1,B1,A,bitcoin,200\n"
                 "H3,2026-11-03T08:02:00+08:00,R1,B1,A,alipay,-200\n"
                 "H4,2026-11-03T08:03:00+08:00,R1,B1,A,alipay,200\n")
    resp = await client.post("/api/v1/ingest/fares", data=body, headers={**ingest_headers(), "Content-Type": "text/csv"})
    assert resp.status == 200
    answer = await resp.json()
    assert (answer["transactions_new"], answer["rejected"], answer["rows"]) == (2, 2, 4)
    assert [(r["line"], r["kind"]) for r in answer["rejections"]] == [(3, "bad_value"), (4, "bad_value")]
    assert "bitcoin" in answer["rejections"][0]["detail"] and "negative" in answer["rejections"][1]["detail"]
    again = await (await client.post("/api/v1/ingest/fares", data=body, headers=ingest_headers())).json()
    assert (again["transactions_new"], again["transactions_duplicate"]) == (0, 2)

    json_body = [{"line": "R1", "vehicle": "B1", "date": "2026-11-03", "channel": "cash", "boardings": 9},
                 {"transaction_id": "H9", "time": "soon", "line": "R1", "vehicle": "B1", "channel": "cash",
                  "amount_fen": 100}]
    resp = await client.post("/api/v1/ingest/fares", json=json_body, headers=ingest_headers())
    answer = await resp.json()
    assert resp.status == 200 and answer["aggregates"] == 1
    assert answer["rejections"] == [{"index": 1, "kind": "malformed",
                                     "detail": "time 'soon' is not an ISO 8601 time or POSIX seconds"}]
    assert await daily(pool) == {("R1", "wechat"): 1, ("R1", "alipay"): 1, ("R1", "cash"): 9}

    resp = await client.post("/api/v1/ingest/fares", data=TX + "X1,bad,R1,B1,A,cash,1\n", headers=ingest_headers())
    assert resp.status == 422 and (await resp.json())["error"]["rejected"] == 1
    resp = await client.post("/api/v1/ingest/fares", data="a,b\n1,2\n", headers=ingest_headers())
    assert resp.status == 400 and "transaction_id" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/v1/ingest/fares", data=body)
    assert resp.status == 401
    resp = await client.post("/api/v1/ingest/fares", data="", headers=ingest_headers())
    assert resp.status == 400

    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="bad_value",source="fares"} 4.0' in metrics
    assert 'transit_rejections_total{kind="malformed",source="fares"} 2.0' in metrics
    assert 'transit_fares_rows_total{result="new"} 2.0' in metrics
    assert 'transit_fares_rows_total{result="duplicate"} 2.0' in metrics

    batches = await (await client.get("/api/v1/admin/fares/batches", headers=admin_headers())).json()
    assert len(batches["batches"]) == 3
    assert (await client.get("/api/v1/admin/fares/batches", headers=ingest_headers())).status == 401


async def test_cli_imports_large_files_in_chunks_with_file_line_numbers(settings: Settings, pool: asyncpg.Pool,
                                                                       tmp_path: Path, capsys) -> None:
    from feeds.fares.importer import import_file

    lines = [f"C{i},2026-11-0{1 + i % 9}T08:00:00+08:00,R{i % 3},B{i % 7},S,{'cash' if i % 10 == 0 else 'wechat'},200"
             for i in range(5000)]
    lines[4321] = "C4321,2026-11-03T08:00:00+08:00,R1,B1,S,paper,200"  # file line 4323
    path = tmp_path / "fares.csv"
    path.write_text(TX + "\n".join(lines) + "\n")
    summary = await import_file(pool, path, LIMITS, chunk_bytes=20_000)  # about 20 chunks
    assert len(summary.batch_ids) > 10
    assert (summary.rows, summary.inserted, summary.rejected) == (5000, 4999, 1)
    assert summary.rejections[0].index == 4323
    again = await import_file(pool, path, LIMITS, chunk_bytes=1 << 20)
    assert (again.inserted, again.duplicates) == (0, 4999)

    from transit.cli import main

    fresh = tmp_path / "more.csv"
    fresh.write_text(TX + "Z1,2026-11-03T08:00:00+08:00,R1,B1,S,wechat,200\nZ2,2026-11-03T08:00:00+08:00,R1,B1,S,nope,1\n")
    code = await _run_cli(["--database-url", settings.database.url, "fares", "import", str(fresh)])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 new transactions" in out and "line 3: bad_value: unknown channel 'nope'" in out
    assert await pool.fetchval("SELECT count(*) FROM fare_transactions WHERE transaction_id = 'Z1'") == 1
    assert main is not None


async def _run_cli(argv: list[str]) -> int:
    import asyncio

    from transit.cli import main

    return await asyncio.to_thread(main, argv)
