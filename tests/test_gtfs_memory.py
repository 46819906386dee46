"""The database-free reader builds the same schedule as import + load, and refuses bad feeds alike."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import numpy as np
import pytest

from feeds.gtfs import GtfsImportFailed, import_gtfs
from feeds.gtfs.memory import read_index
from tests.support.feeds import BASE, tiny_feed
from transit.schedule.load import load_schedule

DEMO = Path(__file__).resolve().parent.parent / "transit" / "demo" / "network"


async def test_memory_and_database_give_the_same_index(pool: asyncpg.Pool) -> None:
    await import_gtfs(pool, DEMO)
    from_db = await load_schedule(pool)
    in_memory = read_index(DEMO)
    assert from_db is not None
    for name in ("stop_ids", "trip_ids", "route_ids", "stop_name", "stop_name_en", "trip_headsign_en"):
        assert getattr(in_memory, name) == getattr(from_db, name), name
    for name in ("st_trip", "st_stop", "st_seq", "st_arr_s", "st_dep_s", "st_dist_m", "st_timepoint", "trip_block",
                 "trip_service", "shape_x", "freq_start_s", "freq_headway_s"):
        assert np.array_equal(getattr(in_memory, name), getattr(from_db, name)), name


async def test_memory_reader_keeps_approximate_times_apart_from_timepoints(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """``timepoint`` 0 marks a time as approximate: buses do not wait for it, in an offline
    evaluation as in the service (the reader used to drop the column, making every call exact)."""
    stop_times = BASE["stop_times.txt"].splitlines()
    rows = [stop_times[0] + ",timepoint"] + [row + (",0" if row.endswith(",2") else ",1") for row in stop_times[1:]]
    feed = tiny_feed(tmp_path / "approx", replace={"stop_times.txt": "\n".join(rows) + "\n"})
    await import_gtfs(pool, feed)
    from_db = await load_schedule(pool)
    in_memory = read_index(feed)
    assert from_db is not None
    approximate = [in_memory.st_seq[i] for i in range(len(in_memory.st_seq)) if not in_memory.st_timepoint[i]]
    assert approximate == [2, 2, 2, 2]
    assert np.array_equal(in_memory.st_timepoint, from_db.st_timepoint)


def test_memory_reader_refuses_a_bad_feed_with_the_same_errors(tmp_path: Path) -> None:
    bad = tiny_feed(tmp_path / "bad", append={"stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\n"})
    with pytest.raises(GtfsImportFailed, match=r"stop_times\.txt line 15: trip_id 'GHOST' is not in trips\.txt"):
        read_index(bad)
