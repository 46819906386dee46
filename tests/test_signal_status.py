"""Controller status messages (GA/T 1049.2 style, GB/T 20999 running modes): every mode code, the
day it makes in the coverage log, and bad messages refused by kind while good ones are kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo

import pytest

from signals.intersections import Intersection
from signals.modes import GAT1049_MODES, ModeCategory, UnknownMode, parse_gat1049_mode, parse_gb20999_mode
from signals.registry import upsert_intersections
from signals.status import decode_status
from tests.conftest import admin_headers, ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.settings import Settings

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 3, 2)
COMPONENTS = ["transit.app.health:setup", "signals.component:setup"]

# code -> (real-time day?, reason code, category)
GAT_CASES = {
    "01": (False, "not_realtime_mode", ModeCategory.MANUAL),
    "11": (False, "flash", ModeCategory.LAMPS_OFF),
    "12": (False, "not_realtime_mode", ModeCategory.ALL_RED),
    "13": (False, "flash", ModeCategory.FLASH),
    "21": (False, "not_realtime_mode", ModeCategory.FIXED_TIME),
    "22": (True, None, ModeCategory.ACTUATED),
    "23": (True, None, ModeCategory.ADAPTIVE),
    "31": (False, "not_realtime_mode", ModeCategory.FIXED_TIME),
    "32": (True, None, ModeCategory.COORDINATED_ADAPTIVE),
    "33": (True, None, ModeCategory.COORDINATED_ADAPTIVE),
    "41": (True, None, ModeCategory.CENTRAL),
}
GB_CASES = {
    "0x11": "21", "0x12": "41", "0x13": "41", "0x14": "23", "0x15": "01",
    "0x21": "21", "0x22": "22", "0x23": "31", "0x24": "23", "0x25": "01",
    "0x31": "13", "0x32": "12", "0x33": "11",
}


def at(day: dt.date, hhmmss: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmmss), TZ)


def day_messages(cross: str, day: dt.date, mode: dict[str, object], *, plan: int = 3,
                 cycle=lambda i: 90 + (i % 7) * 6, start: str = "05:50:00", end: str = "22:10:00",
                 extra: list[dict[str, object]] | None = None) -> list[dict[str, object]]:
    """A controller's day: Online, its mode, and a CrossCycle report at the end of every cycle."""
    msgs: list[dict[str, object]] = [
        {"type": "CrossState", "CrossID": cross, "Value": "Online", "time": at(day, start).isoformat()},
        {"type": "CrossModePlan", "CrossID": cross, **mode, "PlanNo": plan, "time": at(day, start).isoformat()},
    ]
    t, stop, i = at(day, start), at(day, end), 0
    while t < stop:
        length = cycle(i)
        t += dt.timedelta(seconds=length)
        msgs.append({"type": "CrossCycle", "CrossID": cross, "StartTime": t.isoformat(), "LastCycleLen": length})
        i += 1
    return msgs + (extra or [])


@pytest.fixture
async def app_client(aiohttp_client, pool, settings: Settings):
    services = Services(settings=settings, pool=pool)
    client = await aiohttp_client(create_app(services, components=COMPONENTS))
    return client, services


async def register(pool, *items: tuple[str, tuple[str, ...], tuple[str, ...]]) -> None:
    await upsert_intersections(pool, [
        (i, Intersection(ident, f"路口 {ident}", 36.71, 117.53, "明水街道", True, controllers, cameras))
        for i, (ident, controllers, cameras) in enumerate(items)])


async def post_status(client, msgs: list[dict[str, object]]) -> dict[str, object]:
    resp = await client.post("/api/v1/ingest/signal-status", json={"messages": msgs}, headers=ingest_headers())
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def coverage_days(client, day: dt.date = DAY) -> dict[str, dict[str, object]]:
    resp = await client.get(f"/api/v1/admin/signals/coverage-days?from={day}&to={day}", headers=admin_headers())
    assert resp.status == 200
    return {d["intersection_id"]: d for d in (await resp.json())["days"]}


@pytest.mark.parametrize("code", sorted(GAT_CASES))
def test_gat1049_codes(code: str) -> None:
    mode = parse_gat1049_mode(code)
    assert mode.category == GAT_CASES[code][2]
    assert mode.realtime == GAT_CASES[code][0]
    assert parse_gat1049_mode(int(code)) == mode


@pytest.mark.parametrize("code", sorted(GB_CASES))
def test_gb20999_codes_map_onto_gat1049(code: str) -> None:
    byte, mode = parse_gb20999_mode(code)
    assert byte == int(code, 16)
    assert mode == GAT1049_MODES[GB_CASES[code]]
    assert parse_gb20999_mode(int(code, 16))[1] == mode
    assert parse_gb20999_mode(code[2:] + "H")[1] == mode


@pytest.mark.parametrize("bad", ["24", "00", "x", 7.5, None, "0x26"])
def test_unknown_codes_are_refused(bad: object) -> None:
    with pytest.raises(UnknownMode):
        parse_gat1049_mode(bad)
    with pytest.raises(UnknownMode):
        parse_gb20999_mode(bad if bad != "24" else "0x34")


async def test_every_mode_code_makes_its_day(app_client, pool) -> None:
    client, _ = app_client
    cases: dict[str, tuple[dict[str, object], tuple[bool, str | None, ModeCategory]]] = {}
    for code, expected in GAT_CASES.items():
        cases[f"GA{code}"] = ({"ControlMode": code}, expected)
    for code, target in GB_CASES.items():
        cases[f"GB{code}"] = ({"RunMode": code}, GAT_CASES[target])
    await register(pool, *[(f"X-{name}", (f"C-{name}",), ()) for name in cases])
    for name, (mode, _) in cases.items():
        body = await post_status(client, day_messages(f"C-{name}", DAY, mode))
        assert body["rejected"] == [] and body["unregistered_controllers"] == []
    days = await coverage_days(client)
    for name, (_, (realtime, reason, category)) in cases.items():
        row = days[f"X-{name}"]
        assert row["realtime"] is realtime, (name, row["reason"])
        assert row["reason_code"] == reason, (name, row["reason"])
        assert row["online_min"] == pytest.approx(960, abs=1)
        assert row["mode_min"] == {category.value: pytest.approx(960, abs=1)}, name
        if category in (ModeCategory.FLASH, ModeCategory.LAMPS_OFF):
            assert row["flash_min"] == pytest.approx(960, abs=1)
        if realtime:
            assert row["realtime_min"] == pytest.approx(960, abs=1)
            assert any("cycle lengths varied" in e for e in row["evidence"])
    stored = await pool.fetchrow("SELECT mode, mode_source FROM signal_status WHERE controller_id = 'C-GB0x22' "
                                 "AND kind = 'mode'")
    assert (stored["mode"], stored["mode_source"]) == ("22", "GB20999:0x22")


async def test_real_time_mode_with_steady_timing_did_not_respond(app_client, pool) -> None:
    client, _ = app_client
    await register(pool, ("STEADY", ("S-1",), ()), ("PLANS", ("P-1",), ()))
    await post_status(client, day_messages("S-1", DAY, {"ControlMode": "23"}, cycle=lambda i: 120))
    # steady cycles, but the adaptive system changed plans with demand during the day
    changes = [{"type": "CrossModePlan", "CrossID": "P-1", "ControlMode": "23", "PlanNo": p,
                "time": at(DAY, t).isoformat()} for p, t in ((5, "07:12:40"), (3, "09:47:05"), (6, "17:03:30"))]
    await post_status(client, day_messages("P-1", DAY, {"ControlMode": "23"}, cycle=lambda i: 120, extra=changes))
    days = await coverage_days(client)
    steady = days["STEADY"]
    assert not steady["realtime"] and steady["reason_code"] == "not_responding"
    assert steady["cycle_cv"] == 0 and steady["cycles"] > 400
    plans = days["PLANS"]
    assert plans["realtime"] and plans["plan_changes"] == 3
    assert [p["at"] for p in plans["plans"]] == ["07:12:40", "09:47:05", "17:03:30"]
    assert [p["plan"] for p in plans["plans"]] == [5, 3, 6]


async def test_offline_state_and_silence_take_minutes_off(app_client, pool) -> None:
    client, _ = app_client
    await register(pool, ("OFF", ("O-1",), ()), ("QUIET", ("Q-1",), ()))
    offline = [{"type": "CrossState", "CrossID": "O-1", "Value": "Offline", "time": at(DAY, "10:00:00").isoformat()},
               {"type": "CrossState", "CrossID": "O-1", "Value": "Online", "time": at(DAY, "12:00:00").isoformat()}]
    await post_status(client, day_messages("O-1", DAY, {"ControlMode": "22"}, extra=offline))
    await post_status(client, day_messages("Q-1", DAY, {"ControlMode": "22"}, end="14:00:00"))
    days = await coverage_days(client)
    assert days["OFF"]["online_min"] == pytest.approx(840, abs=1)
    assert days["OFF"]["reason_code"] == "offline"
    # heard until 14:00 and for status_stale_s (5 min) after the last report
    assert days["QUIET"]["online_min"] == pytest.approx(485, abs=2)
    assert days["QUIET"]["reason_code"] == "offline"


def test_bad_messages_are_refused_by_kind() -> None:
    now = at(DAY, "12:00:00").timestamp()
    good = {"type": "CrossCycle", "CrossID": "A", "StartTime": at(DAY, "11:00:00").isoformat(), "LastCycleLen": 90}
    batch = [
        good,
        "not an object",
        {"type": "CrossPhase", "CrossID": "A"},
        {"type": "CrossState", "Value": "Online", "time": "2026-03-02T08:00:00+08:00"},
        {"type": "CrossState", "CrossID": "A", "Value": "Sleeping", "time": "2026-03-02T08:00:00+08:00"},
        {"type": "CrossModePlan", "CrossID": "A", "ControlMode": "24", "time": "2026-03-02T08:00:00+08:00"},
        {"type": "CrossModePlan", "CrossID": "A", "RunMode": "0x26", "time": "2026-03-02T08:00:00+08:00"},
        {"type": "CrossModePlan", "CrossID": "A", "ControlMode": "22", "PlanNo": -1, "time": "2026-03-02T08:00:00"},
        {"type": "CrossModePlan", "CrossID": "A", "time": "2026-03-02T08:00:00"},
        {"type": "CrossCycle", "CrossID": "A", "StartTime": "2026-03-02T08:00:00", "LastCycleLen": 0},
        {"type": "CrossCycle", "CrossID": "A", "StartTime": "2026-03-02T08:00:00", "LastCycleLen": 900},
        {"type": "CrossCycle", "CrossID": "A", "StartTime": "yesterday", "LastCycleLen": 90},
        {"type": "CrossCycle", "CrossID": "A", "StartTime": "2026-03-02T13:00:00+08:00", "LastCycleLen": 90},
        {"CrossModePlan": {"CrossID": "A", "RunMode": "0x24", "PlanNo": 2, "time": "2026-03-02T08:00:00+08:00"}},
    ]
    msgs, rejections = decode_status(batch, tz="Asia/Shanghai", now=now)
    assert [m.kind for m in msgs] == ["cycle", "mode"]
    assert msgs[1].mode == "23" and msgs[1].mode_source == "GB20999:0x24" and msgs[1].plan_no == 2
    kinds = {r.index: str(r.kind) for r in rejections}
    assert kinds == {1: "malformed", 2: "unsupported", 3: "missing_field", 4: "bad_value", 5: "bad_value",
                     6: "bad_value", 7: "bad_value", 8: "missing_field", 9: "bad_value", 10: "bad_value",
                     11: "bad_value", 12: "future_timestamp"}
    assert "Sleeping" in rejections[3].detail and "0x26" in rejections[5].detail


async def test_http_refusals_are_counted_and_good_messages_kept(app_client, pool) -> None:
    client, _ = app_client
    good = {"type": "CrossState", "CrossID": "A", "Value": "Online", "time": "2026-03-02T08:00:00+08:00"}
    resp = await client.post("/api/v1/ingest/signal-status", json=[good, {"type": "CrossState", "CrossID": "A"}],
                             headers=ingest_headers())
    body = await resp.json()
    assert resp.status == 200 and body["stored"] == 1 and len(body["rejected"]) == 1
    resp = await client.post("/api/v1/ingest/signal-status", json=[{"type": "nope"}], headers=ingest_headers())
    assert resp.status == 422
    resp = await client.post("/api/v1/ingest/signal-status", data=b"{not json", headers=ingest_headers())
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "malformed"
    resp = await client.post("/api/v1/ingest/signal-status", json=[good], headers=ingest_headers())
    assert (await resp.json())["duplicates"] == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="missing_field",source="signal_status"} 1.0' in metrics
    assert 'transit_rejections_total{kind="unsupported",source="signal_status"} 1.0' in metrics
    assert await pool.fetchval("SELECT count(*) FROM signal_status") == 1


async def test_the_log_fills_as_data_arrives(app_client, pool) -> None:
    client, services = app_client
    await register(pool, ("LIVE", ("L-1",), ()))
    await post_status(client, day_messages("L-1", DAY, {"ControlMode": "23"}, end="12:00:00"))
    worker = services.extras["signals"].worker
    await asyncio.wait_for(worker.wait_idle(), 10)
    row = await pool.fetchrow("SELECT online_min, realtime FROM signal_coverage_days WHERE intersection_id = 'LIVE'")
    assert row["online_min"] == pytest.approx(365, abs=2) and not row["realtime"]
    await post_status(client, day_messages("L-1", DAY, {"ControlMode": "23"}, start="11:58:00"))
    await asyncio.wait_for(worker.wait_idle(), 10)
    row = await pool.fetchrow("SELECT online_min, realtime FROM signal_coverage_days WHERE intersection_id = 'LIVE'")
    assert row["online_min"] == pytest.approx(960, abs=1) and row["realtime"]
    assert await pool.fetchval("SELECT count(*) FROM signal_dirty_days") == 0


async def test_storage_down_answers_503_and_keeps_nothing_half_done(aiohttp_client, db_url, settings) -> None:
    from transit.db.pool import create_pool

    pool = await create_pool(db_url, 1, 2)
    client = await aiohttp_client(create_app(Services(settings=settings, pool=pool), components=COMPONENTS))
    await pool.close()
    msg = {"type": "CrossState", "CrossID": "A", "Value": "Online", "time": "2026-03-02T08:00:00+08:00"}
    resp = await client.post("/api/v1/ingest/signal-status", json=[msg], headers=ingest_headers())
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert (await resp.json())["error"]["code"] == "unavailable"
