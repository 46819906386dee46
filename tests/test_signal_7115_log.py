"""Signal 7115 (UDOT ATSPM fixtures): the daily coverage log shows the coordination plans, cycles
and actuation its event logs contain, checked against counts computed here with the csv module."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
import zoneinfo
from pathlib import Path

import pytest

from signals.codes import event_name
from signals.coverage import ratios
from signals.indiana import parse_event_log
from signals.intersections import Intersection
from signals.log_store import list_days
from signals.recompute import process_dirty
from signals.registry import upsert_intersections
from signals.store import store_events
from transit.settings import Settings

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
FILES = ("7115Oct22PlanLogs.csv", "ApproachVolumeTestLogs.csv", "7115TerminationData.csv")
_US = re.compile(r"^(\d+)/(\d+)/(\d{4}) (\d+):(\d+):(\d+)(?:\.(\d+))?$")


def _when(text: str) -> dt.datetime:
    """Independent timestamp reading: the two forms the files use."""
    m = _US.match(text)
    if m:
        mo, d, y, h, mi, s, frac = m.groups()
        micro = int((frac or "0").ljust(6, "0")[:6])
        return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=TZ)
    date, clock = text.split(" ")
    whole, _, frac = clock.partition(".")
    base = dt.datetime.fromisoformat(f"{date} {whole}")
    return base.replace(microsecond=int(frac.ljust(6, "0")[:6]), tzinfo=TZ)


def _rows(path: Path) -> list[tuple[dt.datetime, int, int]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        out = []
        for row in csv.reader(fh):
            if not row or not row[0].strip().isdigit():
                continue  # header
            out.append((_when(row[1]), int(row[2]), int(row[3])))
    return sorted(out, key=lambda r: r[0])


def _in_hours(t: dt.datetime) -> bool:
    return dt.time(6) <= t.time() < dt.time(22)


@pytest.fixture
async def loaded(pool, settings: Settings, shared_data: Path):
    folder = shared_data / "atspm"
    await upsert_intersections(pool, [(1, Intersection("UT-7115", "State St & 7115", 40.7, -111.9, "Utah", True,
                                                       ("7115",), ()))])
    for name in FILES:
        parsed = parse_event_log((folder / name).read_bytes(), tz=settings.timezone)
        assert not parsed.rejections, name
        await store_events(pool, parsed, settings.timezone)
    await process_dirty(pool, settings, now=dt.datetime(2026, 1, 1, tzinfo=TZ).timestamp())
    return folder


async def test_plans_each_day_match_the_131_events(pool, settings: Settings, loaded: Path) -> None:
    events = [r for r in _rows(loaded / "7115Oct22PlanLogs.csv") if r[1] == 131]
    expected: dict[dt.date, list[tuple[str, int]]] = {}
    previous = None
    for when, _, plan in events:
        if previous is not None and plan != previous and _in_hours(when):
            expected.setdefault(when.date(), []).append((when.strftime("%H:%M:%S"), plan))
        previous = plan
    days = {d["day"]: d for d in await list_days(pool, dt.date(2022, 10, 1), dt.date(2022, 10, 31), "UT-7115")}
    assert len(days) == len({w.date() for w, _, _ in events}) == 31
    for day in sorted({w.date() for w, _, _ in events}):
        row = days[day.isoformat()]
        shown = [(p["at"], p["plan"]) for p in row["plans"]]
        assert shown == expected.get(day, []), day
        assert row["plan_changes"] == len(expected.get(day, []))
    # a weekday runs the AM (1), midday (7), PM (13, 14, 13), evening (7) and free (254) patterns
    oct3 = days["2022-10-03"]
    assert [p for _, p in [(p["at"], p["plan"]) for p in oct3["plans"]]] == [1, 7, 13, 14, 13, 7, 254]
    assert oct3["plans"][0]["at"] == "06:00:00"
    assert oct3["events"] == sum(1 for w, _, _ in events if w.date() == dt.date(2022, 10, 3))
    # 131-only extracts do not show the controller on line all day: the day does not count
    assert not oct3["realtime"] and oct3["reason_code"] == "offline"


async def test_cycles_and_actuation_on_17_april_match_the_events(pool, settings: Settings, loaded: Path) -> None:
    rows = _rows(loaded / "7115TerminationData.csv") + _rows(loaded / "ApproachVolumeTestLogs.csv")
    rows.sort(key=lambda r: r[0])
    in_hours = [r for r in rows if _in_hours(r[0])]
    gap_outs = sum(1 for _, code, _ in in_hours if code == 4)
    max_outs = sum(1 for _, code, _ in in_hours if code == 5)
    greens = [w for w, code, phase in in_hours if code == 1 and phase == 2]
    lengths = [(b - a).total_seconds() for a, b in itertools.pairwise(greens)]
    lengths = [x for x in lengths if 0 < x <= 600]
    mean = sum(lengths) / len(lengths)
    std = (sum((x - mean) ** 2 for x in lengths) / len(lengths)) ** 0.5
    # minutes with any event, bridged across gaps of at most 5 minutes
    minutes = sorted({int((w - w.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() // 60)
                      for w, _, _ in in_hours})
    online_s = 60 * len(minutes) + sum((b - a - 1) * 60 for a, b in itertools.pairwise(minutes)
                                       if (b - a - 1) * 60 <= 300)

    day = (await list_days(pool, dt.date(2023, 4, 17), dt.date(2023, 4, 17), "UT-7115"))[0]
    assert day["events"] == len(rows) == 5747 + 1611
    assert day["gap_outs"] == gap_outs > 150
    assert day["max_outs"] == max_outs
    assert day["cycles"] == len(lengths)
    assert day["cycle_mean_s"] == pytest.approx(mean, abs=0.01)
    assert day["cycle_std_s"] == pytest.approx(std, abs=0.01)
    assert day["cycle_min_s"] == pytest.approx(min(lengths), abs=0.01)
    assert day["cycle_max_s"] == pytest.approx(max(lengths), abs=0.01)
    assert day["cycle_length_changes"] == sum(1 for _, code, _ in in_hours if code == 132) == 0
    assert day["split_changes"] == 0
    assert day["online_min"] == pytest.approx(online_s / 60, abs=0.05)
    # the evening is actuated (gap-outs in every quarter hour), the morning extract has detectors only
    assert 170 <= day["realtime_min"] <= 181
    assert any("gap-outs" in e for e in day["evidence"])
    assert any("cycle lengths varied" in e for e in day["evidence"])
    assert not day["realtime"] and day["reason_code"] == "offline"  # 5 of 16 operating hours logged


async def test_every_code_in_the_7115_logs_is_named(loaded: Path) -> None:
    for name in FILES:
        for _, code, _ in _rows(loaded / name):
            assert not event_name(code).startswith("Unknown")


async def test_7115_counts_in_the_ratios_with_its_reason(pool, settings: Settings, loaded: Path) -> None:
    result = await ratios(pool, dt.date(2023, 4, 17), dt.date(2023, 4, 17), settings,
                          now=dt.datetime(2026, 1, 1, tzinfo=TZ).timestamp())
    assert (result.realtime_timing.numerator, result.realtime_timing.denominator) == (0, 1)
    ident, _name, reason = result.realtime_timing.not_counted[0]
    assert ident == "UT-7115" and "offline" in reason
    assert result.epolice.not_counted[0].reason.endswith("no electronic-police camera is registered")
