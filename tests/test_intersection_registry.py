"""The intersection registry: CSV import (bad rows by line, good rows kept) and the admin API."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from signals.intersections import parse_intersections_csv
from signals.log_store import list_days
from signals.recompute import process_dirty
from signals.registry import find_intersection, list_intersections
from tests.conftest import admin_headers, ingest_headers
from tests.test_signal_status import DAY, day_messages
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main as cli_main
from transit.settings import Settings

HEADER = "intersection_id,name,lat,lon,town,is_key,controller_ids,camera_ids,in_service_from\n"
CSV = HEADER + (
    "MS-001,汇泉路与山泉路交叉口,36.7121,117.5362,明水街道,true,CTL-001,EP-001;EP-002,2020-09-01\n"  # 2 good
    "MS-002,绣水大街与明水路交叉口,36.7153,117.5301,明水街道,1,CTL-002;CTL-002B,EP-003,\n"          # 3 good
    "MS-003,,36.71,117.53,明水街道,true,CTL-003,,\n"                                               # 4 no name
    "MS-004,百脉泉路口,91.2,117.53,明水街道,true,CTL-004,,\n"                                       # 5 lat
    "MS-005,唐王山路口,36.71,117.53,明水街道,maybe,CTL-005,,\n"                                     # 6 is_key
    "MS-006,世纪大道口,36.71,117.53,明水街道,false,CTL-001,,\n"                                     # 7 controller taken
    "MS-001,重复,36.71,117.53,明水街道,true,,,\n"                                                  # 8 duplicate id
    "MS-008,双山大街口,36.71,117.53,双山街道,false,,EP-008,2021-02-30\n"                           # 9 date
    "MS-009,山泉路口,36.7,117.52,明水街道,否,CTL-009,,2022-01-01,extra\n"                           # 10 extra field
    "\n"
    "MS-010,福康路口,36.7188,117.5411,明水街道,是,CTL-010,EP-010,\n"                               # 12 good
)


def test_csv_parse_names_bad_lines() -> None:
    good, bad = parse_intersections_csv(CSV)
    assert [line for line, _ in good] == [2, 3, 12]
    assert {r.index: str(r.kind) for r in bad} == {4: "missing_field", 5: "invalid_coordinates", 6: "bad_value",
                                                   7: "duplicate", 8: "duplicate", 9: "bad_value", 10: "malformed"}
    first = good[0][1]
    assert first.camera_ids == ("EP-001", "EP-002") and first.in_service_from == dt.date(2020, 9, 1)
    assert good[1][1].controller_ids == ("CTL-002", "CTL-002B") and good[1][1].is_key
    assert good[2][1].is_key and good[2][1].town == "明水街道"
    assert "CTL-001" in bad[3].detail and "MS-001" in bad[3].detail


async def test_cli_import_keeps_good_rows(tmp_path: Path, settings: Settings, pool, capsys) -> None:
    path = tmp_path / "intersections.csv"
    path.write_text("\ufeff" + CSV, encoding="utf-8")
    code = await asyncio.to_thread(cli_main, ["--database-url", settings.database.url, "intersections", "import",
                                              str(path)])
    out = capsys.readouterr()
    assert code == 0
    assert "3 intersections stored, 7 rows rejected" in out.out
    for line in (4, 5, 6, 7, 8, 9, 10):
        assert f"line {line}:" in out.err
    stored = await list_intersections(pool)
    assert [i.intersection_id for i in stored] == ["MS-001", "MS-002", "MS-010"]
    # a controller cannot move to another intersection by import
    path.write_text(HEADER + "MS-020,新路口,36.7,117.5,明水街道,true,CTL-002,,\n", encoding="utf-8")
    code = await asyncio.to_thread(cli_main, ["--database-url", settings.database.url, "intersections", "import",
                                              str(path)])
    assert code == 1 and "already belongs to intersection 'MS-002'" in capsys.readouterr().err


@pytest.fixture
async def client(aiohttp_client, pool, settings: Settings):
    app = create_app(Services(settings=settings, pool=pool),
                     components=["transit.app.health:setup", "signals.component:setup"])
    return await aiohttp_client(app)


async def test_admin_api(client, pool) -> None:
    item = {"intersection_id": "MS-100", "name": "汇泉路与双山大街交叉口", "lat": 36.7101, "lon": 117.5452,
            "town": "双山街道", "is_key": True, "controller_ids": ["CTL-100"], "camera_ids": "EP-100;EP-101",
            "in_service_from": "2021-05-01"}
    assert (await client.post("/api/v1/admin/intersections", json=item, headers=ingest_headers())).status == 401
    resp = await client.post("/api/v1/admin/intersections", json=[item, {**item, "intersection_id": "X", "lat": "n"}],
                             headers=admin_headers())
    body = await resp.json()
    assert resp.status == 200 and body["stored"] == ["MS-100"]
    assert body["rejected"][0]["index"] == 1 and "lat" in body["rejected"][0]["detail"]
    got = await (await client.get("/api/v1/admin/intersections/MS-100", headers=admin_headers())).json()
    assert got["camera_ids"] == ["EP-100", "EP-101"] and got["in_service_from"] == "2021-05-01"
    resp = await client.put("/api/v1/admin/intersections/MS-100", json={**item, "is_key": False, "camera_ids": []},
                            headers=admin_headers())
    assert resp.status == 200 and (await resp.json())["is_key"] is False
    assert (await find_intersection(pool, "MS-100")).camera_ids == ()
    resp = await client.put("/api/v1/admin/intersections/MS-101", json={**item, "intersection_id": "MS-100"},
                            headers=admin_headers())
    assert resp.status == 422
    listing = await (await client.get("/api/v1/admin/intersections", headers=admin_headers())).json()
    assert [i["intersection_id"] for i in listing["intersections"]] == ["MS-100"]
    resp = await client.post("/api/v1/admin/intersections", data=CSV.encode(),
                             headers={**admin_headers(), "Content-Type": "text/csv"})
    body = await resp.json()
    assert body["stored"] == ["MS-001", "MS-002", "MS-010"] and len(body["rejected"]) == 7
    assert (await client.delete("/api/v1/admin/intersections/MS-100", headers=admin_headers())).status == 200
    resp = await client.get("/api/v1/admin/intersections/MS-100", headers=admin_headers())
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await client.post("/api/v1/admin/intersections", data=b"[", headers=admin_headers())).status == 400


async def test_registering_after_the_data_fills_the_log(client, pool, settings: Settings) -> None:
    resp = await client.post("/api/v1/ingest/signal-status", json=day_messages("LATE-1", DAY, {"ControlMode": "22"}),
                             headers=ingest_headers())
    assert (await resp.json())["unregistered_controllers"] == ["LATE-1"]
    item = {"intersection_id": "LATE", "name": "后登记路口", "lat": 36.72, "lon": 117.53, "is_key": True,
            "controller_ids": ["LATE-1"]}
    assert (await client.post("/api/v1/admin/intersections", json=item, headers=admin_headers())).status == 200
    await process_dirty(pool, settings, dt.datetime(2026, 4, 1).timestamp())
    days = await list_days(pool, DAY, DAY, "LATE")
    assert len(days) == 1 and days[0]["realtime"] and days[0]["online_min"] == pytest.approx(960, abs=1)
