"""The bundled Zhangqiu demo network: what the foundation issue asks of it, and that it imports."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from feeds.gtfs import import_gtfs
from feeds.gtfs.memory import read_index
from tests.support.feeds import tiny_feed
from transit.demo import make_network
from transit.demo.feed import NETWORK_DIR, ensure_demo_feed, network_archive
from transit.schedule.geometry import project_on_polyline
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule

CJK = re.compile(r"[\u4e00-\u9fff]")
WEDNESDAY = dt.date(2026, 3, 11)
SUNDAY = dt.date(2026, 3, 15)


@pytest.fixture(scope="module")
def index() -> ScheduleIndex:
    return read_index(NETWORK_DIR)


def test_shipped_files_are_what_the_script_writes() -> None:
    shipped = {p.name: p.read_bytes() for p in NETWORK_DIR.glob("*.txt")}
    built = {name: text.encode("utf-8") for name, text in make_network.build().texts().items()}
    assert shipped == built, "run `python -m transit.demo.make_network` after changing the network"


def test_the_archive_and_its_hash_are_stable() -> None:
    first, second = network_archive(), network_archive()
    assert first == second
    assert len(first[1]) == 64


def test_lies_around_zhangqiu_in_asia_shanghai(index: ScheduleIndex) -> None:
    assert index.timezone == "Asia/Shanghai"
    assert 36.68 <= index.stop_lat.min() and index.stop_lat.max() <= 36.75
    assert 117.50 <= index.stop_lon.min() and index.stop_lon.max() <= 117.57
    assert 36.68 <= index.shape_lat.min() and index.shape_lat.max() <= 36.75
    assert 117.50 <= index.shape_lon.min() and index.shape_lon.max() <= 117.57


def test_at_least_six_lines_each_in_both_directions(index: ScheduleIndex) -> None:
    assert len(index.route_ids) >= 6
    for r, route_id in enumerate(index.route_ids):
        directions = set(index.trip_direction[index.trip_route == r].tolist())
        assert directions == {0, 1}, f"route {route_id} runs directions {directions}"


def test_chinese_names_with_english_beside_them(index: ScheduleIndex) -> None:
    for name, en in zip(index.stop_name, index.stop_name_en, strict=True):
        assert CJK.search(name), name
        assert en and en.isascii() and not CJK.search(en), (name, en)
    for name, en in zip(index.route_long_name, index.route_long_name_en, strict=True):
        assert CJK.search(name) and en and en.isascii(), (name, en)
    assert all(h and en for h, en in zip(index.trip_headsign, index.trip_headsign_en, strict=True))
    assert "明水古城" in index.stop_name and "山东大学(章丘)" in index.stop_name
    stop = index.stop_pos["T05"]
    assert (index.stop_name[stop], index.stop_name_en[stop]) == ("明水古城", "Mingshui Old Town")


def test_shapes_follow_roads_not_straight_lines(index: ScheduleIndex) -> None:
    assert not index.shape_synthetic[index.trip_shape].any()
    bends = []
    for shape in np.unique(index.trip_shape):
        trip = int(np.flatnonzero(index.trip_shape == shape)[0])
        rows = index.trip_calls(trip)
        sl = index.shape_points(int(shape))
        stops = index.st_stop[rows]
        assert sl.stop - sl.start > 3 * len(stops)  # far more points than stops
        # the farthest the shape strays from the straight stop-to-stop polyline
        sx, sy = index.stop_x[stops], index.stop_y[stops]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(sx), np.diff(sy)))])
        dist, _, _ = project_on_polyline(index.shape_x[sl], index.shape_y[sl], sx, sy, cum)
        bends.append(float(dist.min(axis=1).max()))
        # the stops are on the shape (at the kerb, a few metres off the centre line)
        d, _, _ = project_on_polyline(sx, sy, index.shape_x[sl], index.shape_y[sl], index.shape_dist_m[sl])
        assert d.min(axis=1).max() < 10.0
    assert min(bends) > 15.0, bends


def test_a_loop_line_and_a_line_with_a_repeated_stop(index: ScheduleIndex) -> None:
    loops, repeats = set(), set()
    for trip in range(index.n_trips):
        stops = index.st_stop[index.trip_calls(trip)].tolist()
        route = index.route_ids[index.trip_route[trip]]
        if stops[0] == stops[-1]:
            loops.add(route)
        inner = Counter(stops[1:-1])
        if inner and inner.most_common(1)[0][1] > 1:
            repeats.add(route)
    assert loops == {"4"}
    assert repeats == {"2"}
    # the repeated stop is placed twice along the shape, in order
    trip = index.trip_pos["2-WD-0-0700"]
    rows = index.trip_calls(trip)
    at = [float(d) for s, d in zip(index.st_stop[rows], index.st_dist_m[rows], strict=True)
          if index.stop_ids[s] == "T05"]
    assert len(at) == 2 and at[1] - at[0] > 1500


def test_weekday_and_weekend_service_with_different_headways(index: ScheduleIndex) -> None:
    weekday = index.trips_running_on(WEDNESDAY)
    weekend = index.trips_running_on(SUNDAY)
    assert weekday.any() and weekend.any()
    assert not (weekday & weekend).any()
    line1 = index.trip_route == index.route_pos["1"]
    assert (weekday & line1).sum() > (weekend & line1).sum()
    # a public holiday on a weekday runs the weekend timetable
    national_day = dt.date(2026, 10, 1)
    assert national_day.weekday() < 5
    assert np.array_equal(index.trips_running_on(national_day), weekend)


def test_first_buses_about_six_and_last_departures_before_ten(index: ScheduleIndex) -> None:
    for day in (WEDNESDAY, SUNDAY):
        running = index.trips_running_on(day) & (np.diff(index.trip_freq_start) == 0)
        for r, route_id in enumerate(index.route_ids):
            deps = index.trip_first_dep_s[running & (index.trip_route == r)]
            if route_id == "Y1":
                continue
            assert 5.5 * 3600 <= deps.min() <= 6.75 * 3600, route_id
            assert 21 * 3600 <= deps.max() <= 22 * 3600, route_id


def test_a_frequency_based_line(index: ScheduleIndex) -> None:
    y1 = index.route_pos["Y1"]
    trips = np.flatnonzero(index.trip_route == y1)
    assert all(index.is_frequency_trip(int(t)) for t in trips)
    headways = {int(index.freq_headway_s[k]) for t in trips for k in range(*index.trip_frequencies(int(t)).indices(99))}
    assert headways == {600, 900, 1200}


def test_buses_run_blocks_back_and_forth_with_layovers(index: ScheduleIndex) -> None:
    weekday = index.trips_running_on(WEDNESDAY)
    for b, block_id in enumerate(index.block_ids):
        trips = np.flatnonzero((index.trip_block == b) & weekday)
        if len(trips) == 0:
            continue
        trips = trips[np.argsort(index.trip_first_dep_s[trips])]
        if not block_id.startswith("4-"):  # loop blocks keep their direction
            dirs = index.trip_direction[trips]
            assert (dirs[1:] != dirs[:-1]).all(), block_id
        for a, b2 in itertools.pairwise(trips):
            last = index.st_stop[index.trip_st_start[a + 1] - 1]
            first = index.st_stop[index.trip_st_start[b2]]
            assert last == first, block_id  # the next trip leaves from where the bus stopped
            assert index.trip_first_dep_s[b2] - index.trip_last_arr_s[a] >= 300, block_id
    sizes = [int(((index.trip_block == b) & weekday).sum()) for b in range(len(index.block_ids))]
    assert max(sizes) >= 10


async def test_imports_cleanly(pool) -> None:
    result = await import_gtfs(pool, NETWORK_DIR)
    assert result.active
    assert result.warnings == ()
    assert result.counts["trips"] == len(read_index(NETWORK_DIR).trip_ids)
    assert result.counts["translations"] > 100
    index = await load_schedule(pool)
    assert index is not None
    assert index.n_trips == result.counts["trips"]
    assert index.stop_name_en[index.stop_pos["T01"]] == "Zhangqiu Railway Station"
    assert index.route_long_name_en[index.route_pos["2"]] == "Nulangshan - Xiuyuan River"
    pure = read_index(NETWORK_DIR)
    assert np.allclose(index.st_dist_m, pure.st_dist_m)
    assert np.array_equal(index.st_arr_s, pure.st_arr_s)


async def test_the_demo_imports_its_network_only_when_not_active(pool, tmp_path: Path) -> None:
    first = await ensure_demo_feed(pool, tmp_path)
    assert first.imported and first.replaced is None
    again = await ensure_demo_feed(pool, tmp_path)
    assert not again.imported and again.feed_id == first.feed_id

    other = tiny_feed(tmp_path / "other")
    await import_gtfs(pool, other)
    back = await ensure_demo_feed(pool, tmp_path)
    assert back.imported and back.feed_id > first.feed_id
    assert back.replaced == str(other)
    sha = await pool.fetchval("SELECT sha256 FROM feed_versions WHERE status = 'active'")
    assert sha == network_archive()[1]
