"""A constructed November 2026 with known answers, through the real stores and the real API.

The network (tests.support.feeds.tiny_feed plus two lines) runs on 21 service days in November
2026 (weekdays, with 28 Nov added and 30 Nov removed by calendar_dates):

- 1路 R1: 3 trips a day, real-time predictions served for all 63: counts.
- 环线 L: 1 trip a day, served on only 10 of its 21 days: does not count.
- 游1 F: frequency-based, 3 instances a day, served on 20 of 21 days (60 of 63 = 95 %): counts.
- 3路 R3: never served: does not count.                     -> indicator 2a = 2 / 4

Urban boundary (a file in the settings) holds stops A, B and D; C lies outside.  Boards: BD-A at
A online all month; BD-B at B offline from the middle of the month; BD-C at C online but outside
the urban area; no board at D.                               -> indicator 2b = 1 / 3

Fares: 1,000 electronic transactions and 20 free passes, imported twice; cash as fare-box totals
of 60 + 40 + 30; transactions on 31 Oct and 1 Dec outside the month.  -> indicator 8 = 1000 / 1150

Signals: three key intersections (and one branch-road junction) without controller data.
                                                             -> indicators 7 and 30 = 0 / 3
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path

import asyncpg
import pytest

from feeds.gtfs import import_gtfs
from tests.conftest import ADMIN_TOKEN, admin_headers, ingest_headers
from tests.support.feeds import tiny_feed
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.clock import ManualClock
from transit.schedule.load import load_schedule
from transit.settings import Settings

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=CST).timestamp()
COMPONENTS = ["transit.app.health:setup", "feeds.fares.http:setup", "transit.reports.http:setup"]
SERVICE_DAYS = [d for d in (dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(30))
                if (d.weekday() < 5 and d != dt.date(2026, 11, 30)) or d == dt.date(2026, 11, 28)]
BOUNDARY = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
    [117.495, 36.695], [117.515, 36.695], [117.515, 36.715], [117.495, 36.715], [117.495, 36.695]]]}}


def ts(*args: int) -> float:
    return dt.datetime(*args, tzinfo=CST).timestamp()


def network(folder: Path) -> Path:
    return tiny_feed(folder, append={
        "routes.txt": "F,ZQ,游1,旅游专线,3\nR3,ZQ,3,三路,3\n",
        "trips.txt": "F,WK,FREQ,明水古城,0,,\nR3,WK,T3,丙站,0,,\n",
        "stop_times.txt": "FREQ,07:00:00,07:00:00,A,1\nFREQ,07:05:00,07:05:00,B,2\n"
                          "T3,10:00:00,10:00:00,B,1\nT3,10:05:00,10:05:00,C,2\n",
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs\nFREQ,07:00:00,08:00:00,1200\n",
    })


async def served(pool: asyncpg.Pool) -> None:
    rows = []
    for day in SERVICE_DAYS:
        rows += [(day, t, "", "R1") for t in ("T1", "T2", "NIGHT")]
        if day != dt.date(2026, 11, 17):
            rows += [(day, "FREQ", s, "F") for s in ("07:00:00", "07:20:00", "07:40:00")]
    rows += [(day, "LOOP", "", "L") for day in SERVICE_DAYS[:10]]
    rows += [(dt.date(2026, 11, 3), "FREQ", "07:10:00", "F"),  # not an instance of the timetable
             (dt.date(2026, 11, 3), "GONE", "", "R9"),  # a trip of an older feed
             (dt.date(2026, 10, 30), "T3", "", "R3"), (dt.date(2026, 12, 1), "T3", "", "R3")]  # outside
    stamp = dt.datetime(2026, 11, 3, 8, 0, tzinfo=CST)
    await pool.executemany(
        "INSERT INTO served_trips (service_date, trip_id, start_time, route_id, first_served_at, last_served_at) "
        "VALUES ($1, $2, $3, $4, $5, $5)", [(*r, stamp) for r in rows])


async def boards(pool: asyncpg.Pool) -> None:
    from display.board_spec import BoardSpec
    from display.health import BoardHealth
    from display.registry import BoardRegistry, save_boards

    specs = [BoardSpec(board_id=f"BD-{s}", stop_ids=(s,), route_ids=(), rows=4, cols=32, encoding="GB2312",
                       languages="zh", key=None, poll_interval_s=10.0, location=f"{s} 站") for s in "ABC"]
    await save_boards(pool, specs, ts(2026, 10, 25, 9, 0))
    registry = BoardRegistry()
    await registry.reload(pool)
    health = BoardHealth(registry, online_intervals=3.0)
    by_id = {b.board_id: b for b in registry.list()}
    for board in by_id.values():
        health.record_poll(board, ts(2026, 10, 31, 23, 0), "10.0.0.9", None)
    health.record_poll(by_id["BD-B"], ts(2026, 11, 15, 23, 59), "10.0.0.9", None)  # its last poll
    for board in ("BD-A", "BD-C"):
        health.record_poll(by_id[board], ts(2026, 11, 16, 0, 59, 50), "10.0.0.9", None)
    health.evaluate(ts(2026, 11, 16, 1, 0))  # BD-B stopped polling: offline from 23:59:30 on the 15th
    await health.flush(pool)


async def intersections(pool: asyncpg.Pool) -> None:
    from signals.intersections import Intersection
    from signals.registry import upsert_intersections

    items = [Intersection("X1", "百脉泉大街与山泉路", 36.70, 117.50, "明水", True, ("C1",), ("K1",)),
             Intersection("X2", "绣水大街与汇泉路", 36.71, 117.51, "明水", True, ("C2",), ()),
             Intersection("X3", "双山大街与明水路", 36.72, 117.52, "明水", True, (), ("K3",)),
             Intersection("X4", "某支路口", 36.73, 117.53, "明水", False, (), ())]
    stored, bad = await upsert_intersections(pool, list(enumerate(items)))
    assert len(stored) == 4 and not bad


TX = "transaction_id,time,line,vehicle,stop_id,channel,amount_fen\n"


def fare_batch() -> str:
    rows = []
    for i in range(1000):
        line, channel = ("R1", "wechat") if i < 600 else ("L", "alipay") if i < 900 else ("游1", "local_card")
        day = SERVICE_DAYS[i % len(SERVICE_DAYS)]
        rows.append(f"N{i},{day}T08:{i % 60:02d}:00+08:00,{line},V{i % 5},A,{channel},200")
    rows += [f"FP{i},2026-11-05T09:00:00+08:00,L,V3,B,free_pass,0" for i in range(20)]
    rows += [f"OUT{i},2026-10-31T23:59:59+08:00,R1,V1,A,wechat,200" for i in range(10)]
    rows += [f"OUT{i + 10},2026-12-01T00:00:01+08:00,R1,V1,A,wechat,200" for i in range(10)]
    return TX + "\n".join(rows) + "\n"


CASH = "line,vehicle,date,channel,boardings,source\nR1,V1,2026-11-03,cash,60,fare_box\n" \
       "R1,V2,2026-11-04,cash,40,fare_box\nL,V3,2026-11-05,cash,30,fare_box\n"


@pytest.fixture
async def month(settings: Settings, pool: asyncpg.Pool, tmp_path: Path) -> tuple[Services, Settings]:
    await import_gtfs(pool, network(tmp_path / "gtfs"))
    boundary = tmp_path / "urban.geojson"
    boundary.write_text(json.dumps(BOUNDARY))
    settings = settings.replace(**{"reports.urban_boundary": str(boundary), "reports.token": "bureau-token"})
    services = Services(settings=settings, pool=pool, clock=ManualClock(NOW))
    services.schedule.swap(await load_schedule(pool))
    await served(pool)
    await boards(pool)
    await intersections(pool)
    return services, settings


async def test_the_constructed_month(aiohttp_client, month: tuple[Services, Settings], pool: asyncpg.Pool) -> None:
    services, _ = month
    client = await aiohttp_client(create_app(services, components=COMPONENTS))
    for _ in range(2):  # the same batch twice: counted once
        resp = await client.post("/api/v1/ingest/fares", data=fare_batch(), headers=ingest_headers())
        assert resp.status == 200, await resp.text()
    resp = await client.post("/api/v1/ingest/fares", data=CASH, headers=ingest_headers())
    assert (await resp.json())["aggregates"] == 3

    assert (await client.get("/api/v1/reports/indicators?month=2026-11")).status == 401
    resp = await client.get("/api/v1/reports/indicators?month=2026-11", headers={"Authorization": "Bearer bureau-token"})
    assert resp.status == 200
    report = await resp.json()
    got = {i["id"]: i for i in report["indicators"]}

    a = got["2a"]
    assert (a["numerator"], a["denominator"]) == (2, 4)
    lines = {row["route_id"]: row for row in a["tables"]["lines"]}
    assert (lines["R1"]["scheduled_trips"], lines["R1"]["served_trips"]) == (63, 63)
    assert (lines["F"]["scheduled_trips"], lines["F"]["served_trips"], lines["F"]["days_served"]) == (63, 60, 20)
    assert (lines["L"]["scheduled_trips"], lines["L"]["served_trips"], lines["L"]["days_served"]) == (21, 10, 10)
    assert (lines["R3"]["scheduled_trips"], lines["R3"]["served_trips"]) == (21, 0)
    assert {n["id"] for n in a["not_counted"]} == {"L", "R3"}
    assert "10 of 21 scheduled trips" in next(n["reason"] for n in a["not_counted"] if n["id"] == "L")

    b = got["2b"]
    assert (b["numerator"], b["denominator"]) == (1, 3)
    assert b["four_star"]["met"] and b["five_star"]["met"]
    reasons = {(n["kind"], n["id"]): n["reason"] for n in b["not_counted"]}
    assert set(reasons) == {("board", "BD-C"), ("stop", "B"), ("stop", "D")}
    assert "outside the urban area" in reasons[("board", "BD-C")]
    assert "BD-B online 50.0% of the period" in reasons[("stop", "B")]
    assert "no board" in reasons[("stop", "D")]

    e = got["8"]
    assert (e["numerator"], e["denominator"]) == (1000, 1150)
    assert e["four_star"]["met"] and not e["five_star"]["met"]
    channels = {c["channel"]: c["boardings"] for c in e["tables"]["channels"]}
    assert channels == {"wechat": 600, "alipay": 300, "local_card": 100, "cash": 130, "free_pass": 20}
    by_line = {row["line"]: row for row in e["tables"]["lines"]}
    assert (by_line["R1"]["electronic"], by_line["R1"]["boardings"]) == (600, 700)
    assert (by_line["L"]["electronic"], by_line["L"]["boardings"]) == (300, 350)
    assert by_line["游1"]["route_id"] == "F"  # the fare system's line number matched to the feed

    for ident in ("7", "30"):
        assert got[ident]["available"] and (got[ident]["numerator"], got[ident]["denominator"]) == (0, 3)
        assert {n["id"] for n in got[ident]["not_counted"]} == {"X1", "X2", "X3"}
        assert all(n["reason"] for n in got[ident]["not_counted"])

    ratings = {r["number"]: r["stars"] for r in report["ratings"]}
    assert ratings == {2: 0, 7: 0, 8: 4, 30: 0}
    assert report["period"] == {**report["period"], "from": "2026-11-01", "to": "2026-11-30", "complete": True}

    # CSV: the summary and the not-counted table, for Excel (byte-order mark, Chinese names).
    resp = await client.get("/api/v1/reports/indicators?from=2026-11-01&to=2026-11-30&format=csv",
                            headers=admin_headers())
    text = await resp.text()
    assert resp.status == 200 and text.startswith("\ufeff") and resp.content_type == "text/csv"
    rows = {r["indicator"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert (rows["8"]["numerator"], rows["8"]["denominator"], rows["8"]["value_pct"]) == ("1000", "1150", "86.96")
    assert rows["2b"]["name_zh"] == "公交电子站牌覆盖率" and rows["2b"]["five_star_met"] == "True"
    resp = await client.get("/api/v1/reports/indicators?month=2026-11&format=csv&table=not_counted",
                            headers=admin_headers())
    missing = list(csv.DictReader(io.StringIO((await resp.text()).lstrip("\ufeff"))))
    assert {(r["indicator"], r["id"]) for r in missing} >= {("2a", "L"), ("2b", "D"), ("8", "cash"), ("7", "X2")}
    bad = await client.get("/api/v1/reports/indicators?month=2026-11&format=csv&table=nope", headers=admin_headers())
    assert bad.status == 400 and (await bad.json())["error"]["parameter"] == "table"

    # One day: 3 Nov, a Tuesday.
    day = await (await client.get("/api/v1/reports/indicators?day=2026-11-03", headers=admin_headers())).json()
    day_lines = {r["route_id"]: r for r in day["indicators"][0]["tables"]["lines"]}
    assert day_lines["L"]["served_trips"] == 1 and day_lines["F"]["scheduled_trips"] == 3
    assert day["period"]["kind"] == "day" and day["indicators"][0]["numerator"] == 3  # R1, L and F that day

    trend = await (await client.get("/api/v1/reports/trend?to=2026-11&months=3", headers=admin_headers())).json()
    assert trend["months"] == ["2026-09", "2026-10", "2026-11"]
    series = {s["id"]: s["values"] for s in trend["series"]}
    assert series["2a"][2] == 0.5 and series["8"][2] == pytest.approx(1000 / 1150)
    assert series["8"][1] == 1.0 and series["8"][0] is None  # ten wechat fares on 31 Oct; nothing in September
    assert series["2a"][0] is None  # nothing served in September: no figure rather than 0 %
    assert series["2b"][0] is None and series["2b"][1] == 0.0  # the boards were registered on 25 October

    cmap = await (await client.get("/api/v1/reports/map?month=2026-11", headers=admin_headers())).json()
    assert {s["id"]: s["state"] for s in cmap["stops"]} == {"A": "covered", "B": "board_offline", "C": "not_urban",
                                                            "D": "no_board"}
    assert cmap["boundary"]["type"] == "MultiPolygon" and cmap["boundary_origin"].startswith("file:")
    assert {s["route_id"] for s in cmap["shapes"]} == {"R1", "L", "F", "R3"}

    # A quarter (longer than the 63-day bit masks): the same served trips, plus one on 30 October.
    quarter = await (await client.get("/api/v1/reports/indicators?from=2026-09-01&to=2026-11-30",
                                      headers=admin_headers())).json()
    served_q = {r["route_id"]: r["served_trips"] for r in quarter["indicators"][0]["tables"]["lines"]}
    assert served_q == {"R1": 63, "L": 10, "F": 60, "R3": 1}

    bad = await client.get("/api/v1/reports/indicators?from=2026-11-05&to=2026-11-01", headers=admin_headers())
    assert bad.status == 400 and (await bad.json())["error"]["parameter"] == "to"


async def test_the_cli_writes_the_same_report(month: tuple[Services, Settings], pool: asyncpg.Pool,
                                              tmp_path: Path, capsys) -> None:
    from feeds.fares.importer import import_file, limits_from

    _, settings = month
    fares = tmp_path / "fares.csv"
    fares.write_text(fare_batch())
    cash = tmp_path / "cash.csv"
    cash.write_text(CASH)
    for path in (fares, cash, fares):
        await import_file(pool, path, limits_from(settings, NOW))
    config = tmp_path / "transit.toml"
    config.write_text(f'[reports]\nurban_boundary = "{settings.reports.urban_boundary}"\n')
    base = ["--config", str(config), "--database-url", settings.database.url, "report", "--month", "2026-11",
            "--as-of", "2026-12-05T12:00:00+08:00"]

    from transit.cli import main

    out_json = tmp_path / "nov.json"
    assert await asyncio.to_thread(main, [*base, "--format", "json", "--out", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    got = {i["id"]: (i["numerator"], i["denominator"]) for i in report["indicators"]}
    assert got == {"2a": (2, 4), "2b": (1, 3), "7": (0, 3), "8": (1000, 1150), "30": (0, 3)}
    assert "2026年11月" in capsys.readouterr().out

    out_csv = tmp_path / "nov.csv"
    assert await asyncio.to_thread(main, [*base, "--format", "csv", "--table", "payment_channels",
                                          "--out", str(out_csv)]) == 0
    channels = {r["channel"]: r["boardings"] for r in csv.DictReader(io.StringIO(out_csv.read_text("utf-8-sig")))}
    assert channels["cash"] == "130" and channels["wechat"] == "600"

    out_html = tmp_path / "nov.html"
    assert await asyncio.to_thread(main, [*base, "--format", "html", "--out", str(out_html)]) == 0
    page = out_html.read_text()
    assert 'id="report-data"' in page and "公共交通电子支付使用率" in page
    assert "src=\"http" not in page and "href=\"http" not in page  # nothing fetched from elsewhere
    data = json.loads(page.split('<script id="report-data" type="application/json">')[1].split("</script>")[0])
    assert data["report"]["indicators"][3]["numerator"] == 1000 and data["map"]["stops"]
    assert ADMIN_TOKEN not in page
