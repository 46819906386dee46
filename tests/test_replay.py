"""``transit replay``: the WMATA (TheTransitClock) and Capital Metro recordings ingest completely
with their counts reported; column mapping, bad rows, simulated speed and --url."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import re
import time
import zoneinfo
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from feeds.gps.replay import AvlFormatError, load_avl, read_avl
from feeds.gps.replay_command import run_replay
from feeds.gtfs import import_gtfs
from tests.conftest import INGEST_TOKEN
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main
from transit.settings import Settings

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
WMATA_ROWS = {"3T_3757.csv": 38, "5A_8062.csv": 145, "AvlReports_4-22-16_8087.csv": 184}


def counts(report: str) -> dict[str, int]:
    """The figures of one file's report: {"rows read": 38, "stored": 38, "duplicate": 0, ...}."""
    found = re.findall(r"^\s+([a-z_ ]+?)\s+([\d,]+)$", report, flags=re.MULTILINE)
    return {label: int(n.replace(",", "")) for label, n in found}


def replay_args(*files: Path, **options: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"columns": None, "timezone": None, "speed": None, "url": None, "token": None,
                              "shift_to_now": False, "chunk": 5000, "source": "replay"}
    values.update(options)
    return argparse.Namespace(files=list(files), **values)


async def test_every_wmata_recording_ingests_with_times_in_the_feed_zone(
        settings: Settings, pool: asyncpg.Pool, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # With the WMATA GTFS active, its agency zone (America/New_York) is the default.
    await import_gtfs(pool, shared_data / "wmata" / "gtfs" / "5A")
    files = sorted((shared_data / "wmata" / "avl").glob("*.csv"))
    assert [f.name for f in files] == sorted(WMATA_ROWS)
    assert await run_replay(replay_args(*files), settings) == 0
    out = capsys.readouterr().out
    for f in files:
        n = WMATA_ROWS[f.name]
        section = out.split(f"replay {f}")[1].split("replay ")[0]
        assert counts(section) == {"rows read": n, "stored": n, "rejected": 0}
    assert "2016-04-28T14:50:32-04:00 .. 2016-04-28T15:12:12-04:00" in out

    rows = await pool.fetch("SELECT vehicle_id, block_id, count(*) AS n, min(ts) AS first FROM positions "
                            "GROUP BY 1, 2 ORDER BY 1")
    assert [(r["vehicle_id"], r["block_id"], r["n"]) for r in rows] == [
        ("3757", "A-326", 38), ("8062", "SE-08", 145), ("8087", "SE-18", 184)]
    assert rows[0]["first"] == dt.datetime(2016, 4, 28, 14, 50, 32, tzinfo=NEW_YORK)


async def test_the_capital_metro_day_ingests_completely(
        settings: Settings, pool: asyncpg.Pool, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "capmetro" / "2016-11-25.csv"
    assert await run_replay(replay_args(path), settings) == 0
    out = capsys.readouterr().out
    assert "(capmetro columns)" in out
    assert counts(out) == {"rows read": 32_038, "stored": 32_038, "rejected": 0}
    assert await pool.fetchval("SELECT count(*) FROM positions") == 32_038
    assert await pool.fetchval("SELECT count(DISTINCT vehicle_id) FROM positions") == 181
    first_row = dt.datetime.fromisoformat("2016-11-25T11:53:40-06:00")  # the file's first line
    row = await pool.fetchrow("SELECT * FROM positions WHERE vehicle_id = '8940' AND ts = $1", first_row)
    assert (row["route_id"], row["trip_id"]) == ("1", "1669591")
    assert (row["speed_mps"], row["lat"], row["lon"]) == (pytest.approx(7.15264), 30.421946, -97.665924)

    # A second replay of the same day stores nothing twice, and says so.
    assert await run_replay(replay_args(path), settings) == 0
    out = capsys.readouterr().out
    assert counts(out) == {"rows read": 32_038, "stored": 0, "rejected": 32_038, "duplicate": 32_038}
    assert await pool.fetchval("SELECT count(*) FROM positions") == 32_038


def test_the_command_line(settings: Settings, db_url: str, shared_data: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "wmata" / "avl" / "3T_3757.csv"
    code = main(["--database-url", db_url, "--data-dir", str(settings.data_dir), "replay", str(path),
                 "--timezone", "America/New_York"])
    assert code == 0
    assert counts(capsys.readouterr().out)["stored"] == 38
    assert main(["--database-url", db_url, "replay", str(path), "--speed", "0"]) == 2
    assert main(["--database-url", db_url, "replay", str(path), "--timezone", "Mars/Olympus"]) == 1
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err


async def test_a_column_mapping_and_bad_rows(settings: Settings, pool: asyncpg.Pool, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "depot.csv"
    path.write_text(
        "bus,when,y,x,kmh,line\n"
        "鲁A·12345,2025-05-01 08:00:00,36.71,117.54,36,K1\n"
        "鲁A·12345,2025-05-01 08:00:10,36.711,117.541,,K1\n"
        ",2025-05-01 08:00:20,36.7,117.5,10,K1\n"            # line 4: no vehicle
        "鲁A·12346,yesterday,36.7,117.5,10,K1\n"             # line 5: bad time
        "鲁A·12346,2025-05-01 08:00:30,north,117.5,10,K1\n"  # line 6: bad latitude
        "鲁A·12346,2025-05-01 08:00:40\n"                    # line 7: short row
        "鲁A·12346,2025-05-01 08:00:50,0,0,10,K1\n"          # line 8: (0, 0)
        "鲁A·12346,2025-05-01 08:01:00,36.7,117.5,10,K1\n",
        encoding="utf-8")
    args = replay_args(path, columns="vehicle_id=bus,time=when,lat=y,lon=x,speed_kmh=kmh,route_id=line",
                       timezone="Asia/Shanghai")
    assert await run_replay(args, settings) == 0
    out = capsys.readouterr().out
    assert "(custom columns)" in out
    assert counts(out) == {"rows read": 8, "stored": 3, "rejected": 5, "bad_value": 2, "malformed": 1,
                           "missing_field": 1, "null_island": 1}
    assert "line 6: latitude 'north' is not a number" in out
    rows = await pool.fetch("SELECT vehicle_id, speed_mps, route_id, extract(epoch FROM ts) AS ts FROM positions "
                            "ORDER BY ts")
    assert rows[0]["speed_mps"] == pytest.approx(10.0) and rows[1]["speed_mps"] is None
    assert rows[0]["ts"] == dt.datetime(2025, 5, 1, 8, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")).timestamp()


async def test_simulated_time_at_a_chosen_speed(settings: Settings, pool: asyncpg.Pool, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "four.csv"
    path.write_text("vehicle_id,timestamp,speed,route_id,trip_id,latitude,longitude,trip_headsign\n"
                    + "".join(f"9,2016-11-25T12:00:{s:02d}-06:00,1.0,1,T,30.4,-97.7,x\n" for s in (0, 4, 8, 12)))
    started = time.perf_counter()
    assert await run_replay(replay_args(path, speed=20.0), settings) == 0
    elapsed = time.perf_counter() - started
    assert elapsed >= 12 / 20 * 0.9  # 12 recorded seconds at 20x
    assert counts(capsys.readouterr().out)["stored"] == 4
    assert await pool.fetchval("SELECT count(*) FROM positions") == 4


async def test_posting_to_a_running_service(settings: Settings, pool: asyncpg.Pool, shared_data: Path,
                                            aiohttp_client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = await aiohttp_client(create_app(Services(settings=settings, pool=pool),
                                             components=["transit.app.health:setup", "feeds.gps.component:setup"]))
    path = shared_data / "wmata" / "avl" / "3T_3757.csv"
    url = str(client.make_url("/"))
    # The service's clock is real: a 2016 recording is refused as stale unless moved to now.
    assert await run_replay(replay_args(path, url=url, token=INGEST_TOKEN, timezone="America/New_York",
                                        chunk=10), settings) == 0
    assert counts(capsys.readouterr().out) == {"rows read": 38, "stored": 0, "rejected": 38, "stale_timestamp": 38}
    before = time.time()
    assert await run_replay(replay_args(path, url=url, token=INGEST_TOKEN, timezone="America/New_York",
                                        shift_to_now=True, chunk=10), settings) == 0
    assert counts(capsys.readouterr().out)["stored"] == 38
    # At full speed the moved recording ends now (every fix already happened).
    last = await pool.fetchval("SELECT extract(epoch FROM max(ts)) FROM positions")
    assert abs(float(last) - before) < 60
    assert await pool.fetchval("SELECT count(*) FROM positions WHERE source = 'json'") == 38


def test_the_reader_is_a_library(shared_data: Path, tmp_path: Path) -> None:
    fixes = list(read_avl(shared_data / "wmata" / "avl" / "5A_8062.csv", timezone="America/New_York"))
    assert len(fixes) == 145 and all(a.ts <= b.ts for a, b in itertools.pairwise(fixes))
    assert {f.block_id for f in fixes} == {"SE-08"} and fixes[0].bearing_deg == 102.0
    with pytest.raises(AvlFormatError, match="have no UTC offset"):
        load_avl(shared_data / "wmata" / "avl" / "5A_8062.csv")
    unknown = tmp_path / "odd.csv"
    unknown.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(AvlFormatError, match="not a known AVL layout"):
        load_avl(unknown)
    with pytest.raises(AvlFormatError, match="no column named 'lat_col'"):
        load_avl(unknown, columns={"vehicle_id": "a", "time": "b", "lat": "lat_col", "lon": "c"})
