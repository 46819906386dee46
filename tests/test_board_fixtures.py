"""Shared fixtures and helpers of the board tests (imported by them; holds no tests itself).

The network is ``tests.support.feeds.tiny_feed``: route 1 (R1) runs 甲站 A → 乙站 B → 丙站 C at
08:00-08:10 (T1) and back at 08:20-08:30 (T2), route L loops A → B → D → A at 09:00, and a night
trip leaves A at 25:10.  Boards sit at B, where all of them call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from display.board_spec import BoardSpec
from display.registry import save_boards
from feeds.gtfs import import_gtfs
from tests.support.feeds import tiny_feed
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.core.snapshot import CallPrediction, Snapshot, TripPrediction, VehicleState, VehicleStatus
from transit.schedule.index import ScheduleIndex
from transit.schedule.load import load_schedule
from transit.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
BOARD_COMPONENTS = ["transit.app.health:setup", "display.component:setup"]
KEY = "board-key-0123456789abcdef"


def at(h: int, m: int, s: int = 0, day: int = 25) -> float:
    """A time on Wednesday 2026-11-25 (a weekday of the tiny feed), Asia/Shanghai."""
    return dt.datetime(2026, 11, day, h, m, s, tzinfo=TZ).timestamp()


def spec(board_id: str = "B1", *, stop_ids: tuple[str, ...] = ("B",), key: str | None = KEY, rows: int = 4,
         cols: int = 32, encoding: str = "GB2312", languages: str = "zh", interval: float = 10.0,
         delivery: str = "poll", frame_format: str = "json", route_ids: tuple[str, ...] = (),
         paging: bool = True, message_mode: str = "row") -> BoardSpec:
    return BoardSpec(board_id=board_id, stop_ids=stop_ids, route_ids=route_ids, rows=rows, cols=cols,
                     encoding=encoding, languages=languages, key=key, poll_interval_s=interval,
                     location="乙站 northbound", paging=paging, delivery=delivery, frame_format=frame_format,
                     message_mode=message_mode)


async def add_boards(pool: asyncpg.Pool, *specs: BoardSpec, now: float | None = None) -> None:
    await save_boards(pool, list(specs), now if now is not None else at(6, 0))


@pytest.fixture(name="tiny_index")
async def tiny_index_fixture(pool: asyncpg.Pool, tmp_path: Path) -> ScheduleIndex:
    await import_gtfs(pool, tiny_feed(tmp_path / "tiny"))
    index = await load_schedule(pool)
    assert index is not None
    return index


@pytest.fixture(name="board_services")
async def board_services_fixture(settings: Settings, pool: asyncpg.Pool,
                         tiny_index: ScheduleIndex) -> AsyncIterator[Services]:
    services = Services(settings=settings, pool=pool, clock=ManualClock(at(7, 58)))
    services.schedule.swap(tiny_index)
    yield services


def realtime_t1(version: int, *, arrive_b: float, fix_ts: float, vehicle_stop_seq: int = 1,
                status: VehicleStatus = VehicleStatus.IN_TRANSIT_TO) -> Snapshot:
    """Trip T1 tracked by vehicle V1, heading for A (stop_sequence 1) or standing at B, with its
    predicted arrival at B."""
    calls = []
    for seq, stop, sched, dist in ((1, "A", at(8, 0), 0.0), (2, "B", at(8, 5), 900.0), (3, "C", at(8, 10), 1800.0)):
        if seq < vehicle_stop_seq:
            continue
        predicted = arrive_b + (sched - at(8, 5))
        calls.append(CallPrediction(seq, stop, predicted, predicted + 20, sched, sched + 20, 30.0, dist))
    trip = TripPrediction("20261125:T1", "T1", "R1", 0, "20261125", None, "BLK1", "V1", False,
                          arrive_b - at(8, 5), fix_ts, tuple(calls))
    vehicle = VehicleState("V1", fix_ts, 36.7, 117.49, trip_entity_id="20261125:T1", trip_id="T1", route_id="R1",
                           dist_m=-100.0 if vehicle_stop_seq == 1 else 900.0, stop_sequence=vehicle_stop_seq,
                           stop_id={1: "A", 2: "B", 3: "C"}[vehicle_stop_seq], status=status)
    return Snapshot.build(version, fix_ts, None, {"V1": vehicle}, {trip.entity_id: trip})
