"""Indiana event logs in: every ATSPM fixture imports with its events counted and named, every
format variant reads the same, bad rows are named by line and the good ones kept."""

from __future__ import annotations

import collections
import csv
from pathlib import Path

import pytest

from signals.codes import event_name
from signals.indiana import EventLogError, parse_event_log
from signals.store import store_events
from tests.conftest import ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main as cli_main
from transit.settings import Settings

LOGS = {
    "ApproachVolumeTestLogs.csv": ("7115", 5747),
    "7115TerminationData.csv": ("7115", 1611),
    "7115Oct22PlanLogs.csv": ("7115", 291),
    "TMCEventcodes.csv": ("6387", 16138),
}
COMPONENTS = ["transit.app.health:setup", "signals.component:setup"]


def expected_counts(path: Path) -> collections.Counter[int]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return collections.Counter(int(row[2]) for row in csv.reader(fh) if row and row[0].strip().isdigit())


@pytest.fixture
async def client(aiohttp_client, pool, settings: Settings):
    app = create_app(Services(settings=settings, pool=pool), components=COMPONENTS)
    return await aiohttp_client(app)


async def stored_counts(pool, signal: str) -> dict[int, int]:
    rows = await pool.fetch("SELECT code, count(*) AS n FROM signal_events WHERE controller_id = $1 GROUP BY code",
                            signal)
    return {r["code"]: r["n"] for r in rows}


@pytest.mark.parametrize("name", sorted(LOGS))
async def test_each_fixture_uploads_counted_and_named(client, pool, shared_data: Path, name: str) -> None:
    path = shared_data / "atspm" / name
    signal, total = LOGS[name]
    expected = expected_counts(path)
    assert sum(expected.values()) == total
    resp = await client.post("/api/v1/ingest/signal-events", data=path.read_bytes(), headers=ingest_headers())
    body = await resp.json()
    assert resp.status == 200, body
    assert body["stored"] == total and body["rejected"] == [] and body["signal_ids"] == [signal]
    assert {int(c): v["count"] for c, v in body["codes"].items()} == dict(expected)
    for code, info in body["codes"].items():
        assert info["name"] == event_name(int(code)) and not info["name"].startswith("Unknown")
    assert await stored_counts(pool, signal) == dict(expected)
    assert body["unregistered_controllers"] == [signal]


async def test_cli_imports_every_fixture(capsys, settings: Settings, pool, shared_data: Path) -> None:
    files = [str(shared_data / "atspm" / name) for name in sorted(LOGS)]
    code = await _run_cli(["--database-url", settings.database.url, "signals", "import", *files])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "CoordPatternChange" in out and "VehicleDetectorOn" in out and "PhaseGapOut" in out
    assert f"{5747:,} events stored" in out and f"{16138:,} events stored" in out
    total = await pool.fetchval("SELECT count(*) FROM signal_events")
    assert total == sum(n for _, n in LOGS.values())


async def _run_cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(cli_main, argv)


async def test_reimport_replaces_instead_of_doubling(client, pool, shared_data: Path) -> None:
    data = (shared_data / "atspm" / "7115TerminationData.csv").read_bytes()
    for _ in range(2):
        resp = await client.post("/api/v1/ingest/signal-events", data=data, headers=ingest_headers())
        assert resp.status == 200
    body = await resp.json()
    assert body["replaced"] == 1611
    assert await pool.fetchval("SELECT count(*) FROM signal_events") == 1611


def _rewrite(path: Path, order: list[int], header: list[str] | None, newline: str = "\n", bom: bool = False) -> bytes:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and r[0].strip().isdigit()]
    lines = [",".join(header)] if header else []
    lines += [",".join(r[i] for i in order) for r in rows]
    text = newline.join(lines) + newline
    return ("\ufeff" if bom else "").encode() + text.encode()


VARIANTS = {
    "header, other order": ([1, 2, 3, 0], ["Timestamp", "EventCode", "EventParam", "SignalId"], "\n", False),
    "no header, timestamp first": ([1, 0, 2, 3], None, "\n", False),
    "header, CRLF and BOM": ([0, 1, 2, 3], ["signalID", "timestamp", "eventCode", "eventParam"], "\r\n", True),
    "locationIdentifier names": ([0, 1, 2, 3], ["locationIdentifier", "Timestamp", "EventCode", "EventParam"],
                                 "\n", False),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_read_the_same(shared_data: Path, variant: str) -> None:
    path = shared_data / "atspm" / "ApproachVolumeTestLogs.csv"
    reference = parse_event_log(path.read_bytes())
    order, header, newline, bom = VARIANTS[variant]
    parsed = parse_event_log(_rewrite(path, order, header, newline, bom))
    assert parsed.rejections == ()
    assert parsed.signal_ids == ("7115",)
    assert (parsed.ts_us == reference.ts_us).all()
    assert (parsed.code == reference.code).all() and (parsed.param == reference.param).all()


def test_log_without_signal_column_takes_the_given_id(shared_data: Path) -> None:
    path = shared_data / "atspm" / "7115TerminationData.csv"
    data = _rewrite(path, [1, 2, 3], None)
    with pytest.raises(EventLogError, match="signal id"):
        parse_event_log(data)
    parsed = parse_event_log(data, signal_id="ZQ-CTL-9")
    assert parsed.signal_ids == ("ZQ-CTL-9",) and len(parsed) == 1611


def test_iso_and_us_timestamps_agree() -> None:
    iso = parse_event_log(b"1,2023-04-17 08:00:00.2000000,82,2\n1,2023-04-17T08:00:02.3+08:00,82,2\n")
    us = parse_event_log(b"1,4/17/2023 8:00:0.20,82,2\n1,4/17/2023 8:0:2.3,82,2\n")
    assert iso.ts_us.tolist() == us.ts_us.tolist()
    utc = parse_event_log(b"1,4/17/2023 8:00:0.20,82,2\n", tz="UTC")
    assert int(utc.ts_us[0] - iso.ts_us[0]) == 8 * 3600 * 1_000_000


async def test_bad_rows_named_by_line_and_good_rows_kept(client, pool) -> None:
    body = (
        "SignalId,Timestamp,EventCode,EventParam\n"
        "9,4/17/2023 8:00:00.1,82,2\n"        # line 2 good
        "9,4/31/2023 8:00:00.1,82,2\n"        # line 3: no 31 April
        "\n"                                  # line 4 blank
        "9,4/17/2023 8:00:01.1,eighty,2\n"    # line 5: code
        "9,4/17/2023 8:00:02.1,82\n"          # line 6: short row
        "9,4/17/2023 8:00:03.1,82,x\n"        # line 7: parameter
        ",4/17/2023 8:00:04.1,82,2\n"         # line 8: no signal
        "9,2023-04-17 25:00:00,82,2\n"        # line 9: hour 25
        "9,4/17/2023 8:00:05.1,1,4\n"         # line 10 good
        "9,4/17/2099 8:00:05.1,1,4\n"         # line 11: future
    )
    resp = await client.post("/api/v1/ingest/signal-events", data=body.encode(), headers=ingest_headers())
    result = await resp.json()
    assert resp.status == 200
    assert result["stored"] == 2
    lines = {r["index"]: r for r in result["rejected"]}
    assert sorted(lines) == [3, 5, 6, 7, 8, 9, 11]
    assert "timestamp" in lines[3]["detail"] and "4/31/2023" in lines[3]["detail"]
    assert "event code" in lines[5]["detail"]
    assert lines[6]["kind"] == "malformed"
    assert "parameter" in lines[7]["detail"]
    assert lines[8]["kind"] == "missing_field"
    assert lines[11]["kind"] == "future_timestamp"
    assert await pool.fetchval("SELECT count(*) FROM signal_events") == 2
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="bad_value",source="signal_events"} 4.0' in metrics
    assert 'transit_rejections_total{kind="malformed",source="signal_events"} 1.0' in metrics


async def test_unreadable_log_is_refused_whole(client) -> None:
    resp = await client.post("/api/v1/ingest/signal-events", data=b"foo,bar\n1,2\n", headers=ingest_headers())
    assert resp.status == 400
    assert "no column for" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/v1/ingest/signal-events", data=b"", headers=ingest_headers())
    assert resp.status == 400


async def test_ingest_needs_the_token(client, shared_data: Path) -> None:
    resp = await client.post("/api/v1/ingest/signal-events", data=b"1,2023-04-17 08:00:00,1,2\n")
    assert resp.status == 401


async def test_two_signals_in_one_log_are_both_stored(pool, settings: Settings) -> None:
    data = b"101,2023-04-17 08:00:00.1,1,2\n202,2023-04-17 08:00:00.2,1,2\n101,2023-04-17 08:00:01,4,2\n"
    parsed = parse_event_log(data)
    result = await store_events(pool, parsed, settings.timezone)
    assert result.stored == 3
    assert await stored_counts(pool, "101") == {1: 1, 4: 1}
    assert await stored_counts(pool, "202") == {1: 1}


def test_headerless_log_with_lettered_ids_and_t_separator() -> None:
    parsed = parse_event_log(b"ZQ-SIG-01,2026-03-02T08:00:00.5,1,2\nZQ-SIG-01,2026-03-02T08:00:31,4,2\n")
    assert parsed.rejections == () and parsed.signal_ids == ("ZQ-SIG-01",) and not parsed.had_header
    assert parsed.code.tolist() == [1, 4]
