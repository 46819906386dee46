"""The database-free reader builds the same schedule as import + load, and refuses bad feeds alike."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import numpy as np
import pytest

from feeds.gtfs import GtfsImportFailed, import_gtfs
from feeds.gtfs.memory import read_index
from tests.support.feeds import tiny_feed
from transit.schedule.load import load_schedule

DEMO = Path(__file__).resolve().parent.parent / "transit" / "demo" / "network"


async def test_memory_and_database_give_the_same_index(pool: asyncpg.Pool) -> None:
    await import_gtfs(pool, DEMO)
    from_db = await load_schedule(pool)
    in_memory = read_index(DEMO)
    assert from_db is not None
    for name in ("stop_ids", "trip_ids", "route_ids", "stop_name", "stop_name_en", "trip_headsign_en"):
        assert getattr(in_memory, name) == getattr(from_db, name), name
    for name in ("st_trip", "st_stop", "st_seq", "st_arr_s", "st_dep_s", "st_dist_m", "trip_block",
                 "trip_service", "shape_x", "freq_start_s", "freq_headway_s"):
        assert np.array_equal(getattr(in_memory, name), getattr(from_db, name)), name


def test_memory_reader_refuses_a_bad_feed_with_the_same_errors(tmp_path: Path) -> None:
    bad = tiny_feed(tmp_path / "bad", append={"stop_times.txt": "GHOST,08:20:00,08:20:00,A,1\n"})
    with pytest.raises(GtfsImportFailed, match=r"stop_times\.txt line 15: trip_id 'GHOST' is not in trips\.txt"):
        read_index(bad)
