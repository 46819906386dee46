"""The two ratios over key intersections for a period: intersections that go offline, fall to
flash, run fixed-time all day or have a dead camera do not count, each with its reason."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from signals.cameras import decode_camera_json, roll_up
from signals.coverage import DayRecord, IntersectionInfo, compute_ratios, ratios
from signals.intersections import Intersection
from signals.recompute import recompute_range
from signals.registry import upsert_intersections
from signals.status import decode_status
from signals.store import store_camera_days, store_status
from tests.conftest import admin_headers
from tests.test_signal_status import TZ, at, day_messages
from transit.app.server import create_app
from transit.app.services import Services
from transit.settings import Settings

DAYS = [dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)]
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=TZ).timestamp()
ADAPTIVE = {"ControlMode": "23"}


def _varying(i: int) -> int:
    return 80 + (i * 37) % 50


async def _status(pool, settings: Settings, msgs: list[dict[str, object]]) -> None:
    decoded, bad = decode_status(msgs, tz=settings.timezone, now=NOW)
    assert not bad
    await store_status(pool, decoded, settings.timezone)


async def _heartbeats(pool, settings: Settings, camera: str, day: dt.date, hours=range(6, 22)) -> None:
    reports, bad = decode_camera_json([{"camera_id": camera, "time": at(day, f"{h:02d}:00:30").isoformat()}
                                       for h in hours], tz=settings.timezone, now=NOW)
    assert not bad
    await store_camera_days(pool, roll_up(reports, settings.timezone))


async def _count(pool, settings: Settings, camera: str, day: dt.date, captures: int) -> None:
    reports, bad = decode_camera_json({"camera_id": camera, "date": day.isoformat(), "captures": captures},
                                      tz=settings.timezone, now=NOW)
    assert not bad
    await store_camera_days(pool, roll_up(reports, settings.timezone))


@pytest.fixture
async def district(pool, settings: Settings) -> Settings:
    def item(ident, name, key, controllers, cameras, since=None):
        return Intersection(ident, name, 36.71, 117.53, "明水街道", key, controllers, cameras, since)

    await upsert_intersections(pool, list(enumerate([
        item("ADAPT", "汇泉路-山泉路", True, ("A1",), ("CA",)),
        item("OFFLINE", "绣水大街-明水路", True, ("B1",), ("CB",)),
        item("FLASH", "双山大街-汇泉路", True, ("C1",), ("CC",)),
        item("FIXED", "唐王山路-世纪大道", True, ("D1",), ("CD",)),
        item("DEADCAM", "山泉路-百脉泉路", True, ("E1",), ("CE1", "CE2")),
        item("BRANCH", "明水古城东巷", False, ("F1",), ()),
        item("NEW", "新建路口", True, ("G1",), ("CG",), dt.date(2026, 3, 5)),
        item("NOCAM", "福康路-汇泉路", True, ("H1",), ()),
        item("ZEROCAP", "铁道北路-山泉路", True, ("I1",), ("CI",)),
        item("SOMEDAYS", "百脉泉路-绣水大街", True, ("J1",), ("CJ",)),
    ])))
    for day in DAYS:
        for ctl in ("A1", "E1", "F1", "H1", "I1"):
            await _status(pool, settings, day_messages(ctl, day, ADAPTIVE, cycle=_varying))
        await _status(pool, settings, day_messages("B1", day, ADAPTIVE, cycle=_varying, end="11:00:00"))
        flash = [{"type": "CrossModePlan", "CrossID": "C1", "ControlMode": "13", "PlanNo": 0,
                  "time": at(day, "13:00:00").isoformat()}]
        await _status(pool, settings, day_messages("C1", day, ADAPTIVE, cycle=_varying, extra=flash))
        await _status(pool, settings, day_messages("D1", day, {"ControlMode": "21"}, cycle=lambda i: 120))
        if day != DAYS[-1]:
            await _status(pool, settings, day_messages("J1", day, ADAPTIVE, cycle=_varying))
        for cam in ("CA", "CB", "CC", "CE2", "CJ"):
            await _heartbeats(pool, settings, cam, day)
        await _count(pool, settings, "CD", day, 1534)
        await _count(pool, settings, "CI", day, 0)
    await recompute_range(pool, DAYS[0], DAYS[-1], settings, NOW)
    return settings


def _reasons(ratio) -> dict[str, str]:
    return {ident: reason for ident, _, reason in ratio.not_counted}


async def test_realtime_timing_ratio(pool, district: Settings) -> None:
    result = await ratios(pool, DAYS[0], DAYS[-1], district, now=NOW)
    timing = result.realtime_timing
    assert (timing.numerator, timing.denominator) == (4, 8)
    assert timing.value == 0.5
    reasons = _reasons(timing)
    assert sorted(reasons) == ["FIXED", "FLASH", "OFFLINE", "SOMEDAYS"]
    assert reasons["OFFLINE"].startswith("信号机离线") and "0 of 3 days" in reasons["OFFLINE"]
    assert reasons["FLASH"].startswith("黄闪或关灯") and "flash 3 d" in reasons["FLASH"]
    assert reasons["FIXED"].startswith("非实时控制方式") and "not_realtime_mode 3 d" in reasons["FIXED"]
    assert "2 of 3 days" in reasons["SOMEDAYS"] and "no_data 1 d" in reasons["SOMEDAYS"]
    names = {ident: name for ident, name, _ in timing.not_counted}
    assert names["FIXED"] == "唐王山路-世纪大道"
    assert len(timing.not_counted) == timing.denominator - timing.numerator


async def test_epolice_ratio(pool, district: Settings) -> None:
    result = await ratios(pool, DAYS[0], DAYS[-1], district, now=NOW)
    cams = result.epolice
    assert (cams.numerator, cams.denominator) == (5, 8)
    reasons = _reasons(cams)
    assert sorted(reasons) == ["DEADCAM", "NOCAM", "ZEROCAP"]
    assert "camera CE1 reported on 0 of 3 days" in reasons["DEADCAM"] and "CE2" not in reasons["DEADCAM"]
    assert "no electronic-police camera" in reasons["NOCAM"]
    assert "camera CI reported on 0 of 3 days" in reasons["ZEROCAP"]


async def test_thresholds_come_from_the_settings(pool, district: Settings) -> None:
    loose = district.replace(**{"signals.realtime_day_share": 0.6, "signals.epolice_all_cameras": False,
                                "signals.camera_min_captures": 0})
    result = await ratios(pool, DAYS[0], DAYS[-1], loose, now=NOW, refresh=False)
    assert "SOMEDAYS" not in _reasons(result.realtime_timing)
    assert result.realtime_timing.numerator == 5
    # the log must be recomputed for a per-day threshold (camera_min_captures) to apply
    await recompute_range(pool, DAYS[0], DAYS[-1], loose, NOW)
    result = await ratios(pool, DAYS[0], DAYS[-1], loose, now=NOW)
    assert sorted(_reasons(result.epolice)) == ["NOCAM"]


async def test_the_daily_log_shows_why(pool, district: Settings) -> None:
    from signals.log_store import list_days

    days = {d["intersection_id"]: d for d in await list_days(pool, DAYS[1], DAYS[1])}
    assert days["FLASH"]["flash_min"] == pytest.approx(540, abs=1)
    assert days["FLASH"]["realtime_min"] == pytest.approx(420, abs=1)
    assert days["FIXED"]["mode_min"] == {"fixed_time": pytest.approx(960, abs=1)}
    assert days["FIXED"]["cycle_cv"] == 0
    assert days["OFFLINE"]["online_min"] < 320
    assert days["DEADCAM"]["cameras"]["CE1"] == {"reported": False, "heartbeats": 0, "captures": None}
    assert days["DEADCAM"]["cameras"]["CE2"]["reported"] and days["DEADCAM"]["cameras"]["CE2"]["heartbeats"] == 16
    assert days["FIXED"]["cameras"]["CD"] == {"reported": True, "heartbeats": 0, "captures": 1534}
    assert days["ADAPT"]["realtime"] and days["ADAPT"]["reason"] is None


async def test_admin_endpoint_gives_the_same(aiohttp_client, pool, district: Settings) -> None:
    client = await aiohttp_client(create_app(Services(settings=district, pool=pool),
                                             components=["transit.app.health:setup", "signals.component:setup"]))
    resp = await client.get("/api/v1/admin/signals/ratios?from=2026-03-02&to=2026-03-04", headers=admin_headers())
    body = await resp.json()
    assert resp.status == 200
    assert (body["realtime_timing"]["numerator"], body["realtime_timing"]["denominator"]) == (4, 8)
    assert body["epolice"]["value"] == 5 / 8
    assert {s["intersection_id"] for s in body["epolice"]["not_counted"]} == {"DEADCAM", "NOCAM", "ZEROCAP"}
    assert (await client.get("/api/v1/admin/signals/ratios?month=2026-03")).status == 401
    resp = await client.get("/api/v1/admin/signals/ratios?from=2026-03-05&to=2026-03-01", headers=admin_headers())
    assert resp.status == 400
    resp = await client.get("/api/v1/admin/signals/ratios?month=2026-13", headers=admin_headers())
    assert resp.status == 400


# --- the pure function on plain inputs -----------------------------------------------------------

INFO = IntersectionInfo("K1", "路口", True, None, ("c1",), ("cam",))
TODAY = dt.date(2026, 3, 4)


def _records(flags: list[bool], cams: list[bool], **kw) -> list[DayRecord]:
    return [DayRecord("K1", DAYS[i], flag, None if flag else "offline", cameras_reported={"cam": cam}, **kw)
            for i, (flag, cam) in enumerate(zip(flags, cams, strict=True))]


def test_today_counts_for_timing_once_hours_began_and_for_cameras_once_reported() -> None:
    settings = Settings().signals
    records = _records([True, True], [True, True])
    # 2 days recorded; today (4 March) has no row yet, so it counts for neither
    result = compute_ratios([INFO], records, DAYS[0], DAYS[-1], settings, TODAY)
    assert result.realtime_timing.numerator == 1 and result.epolice.numerator == 1
    today_row = DayRecord("K1", TODAY, False, "not_started", operating_min=0.0, partial=True,
                          cameras_reported={"cam": False})
    result = compute_ratios([INFO], [*records, today_row], DAYS[0], DAYS[-1], settings, TODAY)
    assert result.realtime_timing.numerator == 1 and result.epolice.numerator == 1
    started = dataclasses.replace(today_row, reason_code="offline", operating_min=60.0)
    result = compute_ratios([INFO], [*records, started], DAYS[0], DAYS[-1], settings, TODAY)
    assert result.realtime_timing.numerator == 0
    assert "2 of 3 days" in result.realtime_timing.not_counted[0].reason


def test_day_share_threshold() -> None:
    records = _records([True, True, False], [True, False, True])
    strict = Settings().signals
    loose = dataclasses.replace(strict, realtime_day_share=0.6, camera_report_share=0.6)
    assert compute_ratios([INFO], records, DAYS[0], DAYS[-1], strict, TODAY).realtime_timing.numerator == 0
    result = compute_ratios([INFO], records, DAYS[0], DAYS[-1], loose, TODAY)
    assert (result.realtime_timing.numerator, result.epolice.numerator) == (1, 1)


def test_no_key_intersections_gives_no_value() -> None:
    result = compute_ratios([dataclasses.replace(INFO, is_key=False)], [], DAYS[0], DAYS[-1],
                            Settings().signals, TODAY)
    assert result.realtime_timing.denominator == 0 and result.realtime_timing.value is None
    with pytest.raises(ValueError):
        compute_ratios([INFO], [], DAYS[-1], DAYS[0], Settings().signals, TODAY)
