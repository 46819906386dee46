"""GTFS import: every error kind named by file and line, nothing half-loaded, versions replace."""

from __future__ import annotations

import zipfile
from pathlib import Path

import asyncpg
import pytest

from feeds.gtfs import GtfsImportFailed, active_feed_id, import_gtfs
from tests.support.feeds import BASE, tiny_feed
from transit.cli import main as cli_main
from transit.schedule.holder import ScheduleHolder
from transit.schedule.load import load_schedule


async def _partitions(pool: asyncpg.Pool, feed_id: int) -> list[str]:
    rows = await pool.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE $1", f"gtfs_%_v{feed_id}")
    return sorted(r["tablename"] for r in rows)


async def _fails(pool: asyncpg.Pool, path: Path) -> GtfsImportFailed:
    before = await active_feed_id(pool)
    with pytest.raises(GtfsImportFailed) as info:
        await import_gtfs(pool, path)
    failed = info.value
    assert failed.feed_id is not None
    # nothing half-loaded: no tables of the failed version, the previous version still active
    assert await _partitions(pool, failed.feed_id) == []
    assert await active_feed_id(pool) == before
    row = await pool.fetchrow("SELECT status, errors FROM feed_versions WHERE feed_id = $1", failed.feed_id)
    assert row["status"] == "failed" and row["errors"]
    return failed


@pytest.fixture
async def active_tiny(pool: asyncpg.Pool, tmp_path: Path) -> int:
    result = await import_gtfs(pool, tiny_feed(tmp_path / "good"))
    return result.feed_id


async def test_a_valid_feed_loads_with_counts(pool: asyncpg.Pool, active_tiny: int) -> None:
    assert await active_feed_id(pool) == active_tiny
    counts = await pool.fetchval("SELECT counts FROM feed_versions WHERE feed_id = $1", active_tiny)
    assert counts == {"agency": 1, "stops": 4, "routes": 2, "trips": 4, "stop_times": 13, "calendar": 1,
                      "calendar_dates": 2}
    times = await pool.fetch(
        "SELECT stop_sequence, arrival_s, departure_s FROM gtfs_stop_times WHERE feed_id = $1 AND trip_id = 'T1' "
        "ORDER BY stop_sequence", active_tiny)
    assert [tuple(r) for r in times] == [(1, 28800, 28800), (2, 29100, 29130), (3, 29400, 29400)]
    night = await pool.fetchval(
        "SELECT min(arrival_s) FROM gtfs_stop_times WHERE feed_id = $1 AND trip_id = 'NIGHT'", active_tiny)
    assert night == 25 * 3600 + 10 * 60  # 25:10:00 stays on its service day


@pytest.mark.parametrize(
    ("change", "file", "line", "words"),
    [
        ({"drop": ("stops.txt",)}, "stops.txt", None, "required file is missing"),
        ({"drop": ("calendar.txt", "calendar_dates.txt")}, "calendar.txt", None, "required file is missing"),
        ({"replace": {"routes.txt": "route_id,route_short_name\nR1,1\n"}}, "routes.txt", 1,
         "required column route_type is missing"),
        ({"append": {"stop_times.txt": "T1,8:7x:00,08:20:00,A,9\n"}}, "stop_times.txt", 15,
         "arrival_time '8:7x:00' is not a time"),
        ({"append": {"stop_times.txt": "T1,08:20:00,08:61:00,A,9\n"}}, "stop_times.txt", 15,
         "departure_time '08:61:00' is not a time"),
        ({"append": {"stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\n"}}, "stop_times.txt", 15,
         "trip_id 'GHOST' is not in trips.txt"),
        ({"append": {"stop_times.txt": "T1,08:20:00,08:20:00,NOWHERE,9\n"}}, "stop_times.txt", 15,
         "stop_id 'NOWHERE' is not in stops.txt"),
        ({"append": {"stop_times.txt": "T1,08:20:00,08:20:00,A,3\n"}}, "stop_times.txt", 15,
         "stop_sequence 3 repeats in trip 'T1'"),
        ({"append": {"stop_times.txt": "T1,07:50:00,07:50:00,D,4\n"}}, "stop_times.txt", 15,
         "stop_sequence 4 is timed before the stop before it"),
        ({"append": {"trips.txt": "R1,NOSERVICE,T9,丙站,0,,\n"}}, "trips.txt", 6,
         "trip 'T9' has no service: service_id 'NOSERVICE'"),
        ({"append": {"trips.txt": "R1,WK,T1,丙站,0,,\n"}}, "trips.txt", 6, "duplicate trip_id 'T1'"),
        ({"append": {"stops.txt": "E,戊站,,117.5\n"}}, "stops.txt", 6, "stop 'E' has no position"),
        ({"append": {"calendar_dates.txt": "WK,20261399,1\n"}}, "calendar_dates.txt", 4,
         "date '20261399' is not a date"),
        ({"replace": {"agency.txt": "agency_name,agency_url,agency_timezone\nZQ,https://x.invalid,Asia/Zhangqiu\n"}},
         "agency.txt", 2, "agency_timezone 'Asia/Zhangqiu' is not a time zone"),
    ],
)
async def test_each_error_names_file_line_and_problem(
    pool: asyncpg.Pool, active_tiny: int, tmp_path: Path, change: dict, file: str, line: int | None, words: str
) -> None:
    failed = await _fails(pool, tiny_feed(tmp_path / "bad", **change))
    matching = [e for e in failed.errors if e.file == file and e.line == line and words in e.problem]
    assert matching, f"expected {file} line {line}: {words}; got {[str(e) for e in failed.errors]}"
    assert f"{file} line {line}" in str(failed) if line else file in str(failed)


async def test_all_errors_of_a_feed_are_reported_together(pool: asyncpg.Pool, tmp_path: Path) -> None:
    failed = await _fails(pool, tiny_feed(tmp_path / "bad", append={
        "stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\nT1,08:20:00,08:20:00,NOWHERE,9\n",
        "trips.txt": "R1,NOSERVICE,T9,丙站,0,,\n",
    }))
    assert {(e.file, e.line) for e in failed.errors} >= {("stop_times.txt", 15), ("stop_times.txt", 16),
                                                         ("trips.txt", 6)}


async def test_a_malformed_row_is_named(pool: asyncpg.Pool, tmp_path: Path) -> None:
    failed = await _fails(pool, tiny_feed(tmp_path / "bad", append={"stops.txt": "E,戊站,36.7\n"}))
    assert any(e.file == "stops.txt" and e.line == 6 and "malformed CSV row" in e.problem for e in failed.errors)


async def test_a_valid_feed_replaces_the_older_one(pool: asyncpg.Pool, active_tiny: int, tmp_path: Path) -> None:
    holder = ScheduleHolder()
    first = await holder.reload(pool)
    assert first is not None and first.feed_id == active_tiny and first.find_trip("EXTRA") is None
    newer = tiny_feed(tmp_path / "newer", append={
        "trips.txt": "R1,WK,EXTRA,丙站,0,,\n",
        "stop_times.txt": "EXTRA,10:00:00,10:00:00,A,1\nEXTRA,10:10:00,10:10:00,C,2\n",
    })
    result = await import_gtfs(pool, newer)
    assert result.feed_id != active_tiny and await active_feed_id(pool) == result.feed_id
    statuses = dict(await pool.fetch("SELECT feed_id, status FROM feed_versions"))
    assert statuses == {active_tiny: "superseded", result.feed_id: "active"}
    second = await holder.reload(pool)
    assert second is not None and second.feed_id == result.feed_id and second.find_trip("EXTRA") is not None
    assert first.find_trip("EXTRA") is None  # the old index object is untouched: readers never tear


async def test_a_failed_import_keeps_the_previous_version_serving(
    pool: asyncpg.Pool, active_tiny: int, tmp_path: Path
) -> None:
    await _fails(pool, tiny_feed(tmp_path / "bad", append={"stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\n"}))
    index = await load_schedule(pool)
    assert index is not None and index.feed_id == active_tiny and index.find_trip("T1") is not None


async def test_zip_with_bom_crlf_spaces_and_extra_columns(pool: asyncpg.Pool, tmp_path: Path) -> None:
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in BASE.items():
            if name == "stops.txt":
                text = "\ufeffstop_id, stop_name ,stop_lat,stop_lon,my_extra\r\n" + "".join(
                    line + ",x\r\n" for line in text.splitlines()[1:])
            zf.writestr(f"gtfs/{name}", text)
    result = await import_gtfs(pool, archive)
    names = dict(await pool.fetch("SELECT stop_id, stop_name FROM gtfs_stops WHERE feed_id = $1", result.feed_id))
    assert names["A"] == "甲站"
    stored = await pool.fetchval("SELECT archive FROM feed_versions WHERE feed_id = $1", result.feed_id)
    assert stored == archive.read_bytes()  # /gtfs/static.zip serves exactly what was imported


@pytest.mark.parametrize("cut", ["wmata/gtfs/5A", "wmata/gtfs/3T", "bullrunner/bullrunner-gtfs.zip"])
async def test_every_shared_gtfs_loads(pool: asyncpg.Pool, shared_data: Path, cut: str) -> None:
    result = await import_gtfs(pool, shared_data / cut)
    assert result.active and result.counts["stop_times"] > 0
    index = await load_schedule(pool)
    assert index is not None and index.n_trips == result.counts["trips"]
    assert len(index.st_trip) == result.counts["stop_times"]


async def test_the_rebuilt_capital_metro_gtfs_loads(pool: asyncpg.Pool, capmetro_gtfs: Path) -> None:
    result = await import_gtfs(pool, capmetro_gtfs)
    assert result.counts["stop_times"] == 413_117 and result.counts["trips"] == 14_637
    index = await load_schedule(pool)
    assert index is not None and index.timezone == "America/Chicago"
    loops = sum(1 for t in range(index.n_trips)
                if len(set(index.st_stop[index.trip_calls(t)])) < len(index.st_stop[index.trip_calls(t)]))
    assert loops > 1000  # SOURCE.md: 1,035 trips visit a stop twice; stop_sequence keeps them apart


def test_the_cli_reports_counts_and_errors(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--database-url", db_url, "import-gtfs", str(tiny_feed(tmp_path / "ok"))]) == 0
    out = capsys.readouterr().out
    assert "active" in out and "stop_times" in out and "13" in out
    bad = tiny_feed(tmp_path / "bad", append={"stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\n"})
    assert cli_main(["--database-url", db_url, "import-gtfs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "stop_times.txt line 15: trip_id 'GHOST' is not in trips.txt" in err
    assert cli_main(["--database-url", db_url, "feeds"]) == 0
    listing = capsys.readouterr().out
    assert "active" in listing and "failed" in listing


async def test_an_optional_file_with_only_its_header_is_empty_not_an_error(pool: asyncpg.Pool, tmp_path: Path) -> None:
    feed = tiny_feed(tmp_path / "hdr", replace={"calendar_dates.txt": "service_id,date,exception_type\n"})
    result = await import_gtfs(pool, feed)
    assert result.counts["calendar_dates"] == 0 and result.active
