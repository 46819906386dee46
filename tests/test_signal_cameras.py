"""Electronic-police camera reports: heartbeats or daily capture counts, by JSON or CSV, per row."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from signals.intersections import Intersection
from signals.registry import upsert_intersections
from tests.conftest import ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main as cli_main
from transit.settings import Settings

COMPONENTS = ["transit.app.health:setup", "signals.component:setup"]


@pytest.fixture
async def client(aiohttp_client, pool, settings: Settings):
    await upsert_intersections(pool, [(1, Intersection("EP", "汇泉路-山泉路", 36.71, 117.53, "明水街道", True,
                                                       ("C1",), ("EP-1", "EP-2")))])
    return await aiohttp_client(create_app(Services(settings=settings, pool=pool), components=COMPONENTS))


async def camera_days(pool) -> dict[tuple[str, str], tuple[int, int | None]]:
    rows = await pool.fetch("SELECT camera_id, day, heartbeats, captures FROM camera_days")
    return {(r["camera_id"], r["day"].isoformat()): (r["heartbeats"], r["captures"]) for r in rows}


async def test_json_heartbeats_and_counts(client, pool) -> None:
    body = {"reports": [
        {"camera_id": "EP-1", "time": "2026-03-02T08:00:00+08:00"},
        {"camera_id": "EP-1", "time": "2026-03-02T09:00:00+08:00"},
        {"camera_id": "EP-1", "time": "2026-03-02T23:59:00+08:00"},
        {"camera_id": "EP-1", "time": "2026-03-02T16:30:00Z"},  # 00:30 on the 3rd in Zhangqiu
        {"camera_id": "EP-2", "date": "2026-03-02", "captures": 1821},
        {"camera_id": "EP-9", "time": "2026-03-02T08:00:00+08:00"},
    ]}
    resp = await client.post("/api/v1/ingest/camera-reports", json=body, headers=ingest_headers())
    result = await resp.json()
    assert resp.status == 200 and result["accepted"] == 6 and result["rejected"] == []
    assert result["unregistered_cameras"] == ["EP-9"]
    # a second batch adds heartbeats; a new count for a day replaces the old one
    more = [{"camera_id": "EP-1", "time": "2026-03-02T10:00:00+08:00"},
            {"camera_id": "EP-2", "date": "2026-03-02", "captures": 1822}]
    assert (await client.post("/api/v1/ingest/camera-reports", json=more, headers=ingest_headers())).status == 200
    days = await camera_days(pool)
    assert days[("EP-1", "2026-03-02")] == (4, None)
    assert days[("EP-1", "2026-03-03")] == (1, None)
    assert days[("EP-2", "2026-03-02")] == (0, 1822)
    marked = {(r["intersection_id"], r["day"].isoformat()) for r in await pool.fetch(
        "SELECT intersection_id, day FROM signal_dirty_days")}
    assert ("EP", "2026-03-02") in marked or await pool.fetchval(
        "SELECT count(*) FROM signal_coverage_days WHERE intersection_id = 'EP'") > 0


async def test_csv_rows_named_by_line(client, pool) -> None:
    text = ("camera_id,date,captures\n"
            "EP-1,2026-03-02,905\n"
            "EP-2,2026-03-32,12\n"       # line 3: no such date
            ",2026-03-02,7\n"            # line 4: no camera
            "EP-2,2026-03-02,-4\n"       # line 5: negative
            "EP-2,2099-01-01,5\n"        # line 6: future
            "EP-2,2026-03-03,0\n")
    resp = await client.post("/api/v1/ingest/camera-reports", data=text.encode(),
                             headers={**ingest_headers(), "Content-Type": "text/csv"})
    result = await resp.json()
    assert resp.status == 200 and result["accepted"] == 2
    assert {r["index"]: r["kind"] for r in result["rejected"]} == {3: "bad_value", 4: "missing_field",
                                                                   5: "bad_value", 6: "future_timestamp"}
    assert all(r["detail"].startswith(f"line {r['index']}:") for r in result["rejected"])
    assert (await camera_days(pool))[("EP-2", "2026-03-03")] == (0, 0)
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="bad_value",source="camera_reports"} 2.0' in metrics


async def test_csv_heartbeats_and_bad_bodies(client, pool) -> None:
    text = "camera_id,time\nEP-1,2026-03-02 08:00:00\nEP-1,2026-03-02 08:05:00\nEP-1,soon\n"
    resp = await client.post("/api/v1/ingest/camera-reports", data=text.encode(),
                             headers={**ingest_headers(), "Content-Type": "text/csv"})
    result = await resp.json()
    assert result["accepted"] == 2 and result["rejected"][0]["index"] == 4
    assert (await camera_days(pool))[("EP-1", "2026-03-02")] == (2, None)
    resp = await client.post("/api/v1/ingest/camera-reports", data=b"who,what\n1,2\n",
                             headers={**ingest_headers(), "Content-Type": "text/csv"})
    assert resp.status == 400 and "camera_id" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/v1/ingest/camera-reports", json=[{"time": "2026-03-02T08:00:00"}],
                             headers=ingest_headers())
    assert resp.status == 422
    assert (await client.post("/api/v1/ingest/camera-reports", json=[])).status == 401


async def test_cli_import(tmp_path: Path, settings: Settings, pool, capsys) -> None:
    path = tmp_path / "counts.csv"
    path.write_text("camera_id,date,captures\nEP-7,2026-03-02,12\nEP-7,bad,1\n", encoding="utf-8")
    code = await asyncio.to_thread(cli_main, ["--database-url", settings.database.url, "cameras", "import",
                                              str(path)])
    out = capsys.readouterr()
    assert code == 0
    assert "1 camera reports accepted" in out.out and "line 3" in out.err
    assert (await camera_days(pool))[("EP-7", dt.date(2026, 3, 2).isoformat())] == (0, 12)
