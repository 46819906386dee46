"""Urban stops: the boundary (GeoJSON or lon,lat lines), operator flags, and their admin API."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from feeds.gtfs import import_gtfs
from tests.conftest import admin_headers, ingest_headers
from tests.support.feeds import tiny_feed
from transit.app.server import create_app
from transit.app.services import Services
from transit.reports.urban import BoundaryError, classify_stops, parse_boundary
from transit.schedule.load import load_schedule
from transit.settings import Settings

SQUARE = [[117.495, 36.695], [117.515, 36.695], [117.515, 36.715], [117.495, 36.715], [117.495, 36.695]]


def test_point_in_polygon_with_holes_and_several_polygons() -> None:
    hole = [[117.50, 36.70], [117.505, 36.70], [117.505, 36.705], [117.50, 36.705]]
    far = [[118.0, 37.0], [118.1, 37.0], [118.1, 37.1]]
    b = parse_boundary(json.dumps({"type": "MultiPolygon", "coordinates": [[SQUARE, hole], [far]]}))
    lon = np.array([117.497, 117.502, 117.52, 118.08, 118.01])
    lat = np.array([36.697, 36.702, 36.70, 37.01, 37.09])
    assert b.contains(lon, lat).tolist() == [True, False, False, True, False]


def test_boundary_formats_and_their_errors() -> None:
    lines = "# 明水城区\n117.495,36.695\n117.515 36.695\n117.515,36.715\n\n117.495,36.715\n"
    assert parse_boundary(lines).contains(np.array([117.5]), np.array([36.7])).tolist() == [True]
    collection = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Polygon",
                                                                                              "coordinates": [SQUARE]}}]}
    assert len(parse_boundary(json.dumps(collection)).polygons) == 1
    for text, words in [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ('{"type": "Point", "coordinates": [117.5, 36.7]}', "expected a Polygon"),
        ('{"type": "Polygon", "coordinates": [[[117.5, 36.7], [117.6, 36.7]]]}', "at least 3"),
        ("36.695,117.495\n36.695,117.515\n36.715,117.515\n", "line 1"),  # lat,lon: the wrong way round
        ("117.5,36.7\nabc\n", "line 2"),
    ]:
        with pytest.raises(BoundaryError, match=words):
            parse_boundary(text)


def test_flags_override_the_boundary_both_ways() -> None:
    b = parse_boundary(json.dumps({"type": "Polygon", "coordinates": [SQUARE]}))
    ids = ["A", "B", "C", "D"]
    lat = np.array([36.70, 36.70, 36.70, 36.709])
    lon = np.array([117.50, 117.51, 117.52, 117.51])
    stops = classify_stops(ids, ids, lat, lon, b, {"C": True, "B": False})
    assert [(s.stop_id, s.urban, s.why) for s in stops] == [
        ("A", True, "boundary"), ("B", False, "flag_out"), ("C", True, "flag"), ("D", True, "boundary")]
    only_flags = classify_stops(ids, ids, lat, lon, None, {"C": True})
    assert [s.urban for s in only_flags] == [False, False, True, False]
    nothing = classify_stops(ids, ids, lat, lon, None, {})
    assert all(s.urban and s.why == "all" for s in nothing)


async def test_admin_api_flags_stops_and_stores_a_boundary(aiohttp_client, settings: Settings, pool: asyncpg.Pool,
                                                          tmp_path: Path) -> None:
    await import_gtfs(pool, tiny_feed(tmp_path / "gtfs"))
    services = Services(settings=settings, pool=pool)
    services.schedule.swap(await load_schedule(pool))
    client = await aiohttp_client(create_app(services, components=["transit.app.health:setup",
                                                                   "transit.reports.http:setup"]))

    async def urban() -> dict[str, bool]:
        body = await (await client.get("/api/v1/admin/urban-stops", headers=admin_headers())).json()
        return {s["stop_id"]: s["urban"] for s in body["stops"]}

    assert await urban() == {"A": True, "B": True, "C": True, "D": True}  # nothing configured: all urban
    assert (await client.get("/api/v1/admin/urban-stops", headers=ingest_headers())).status == 401

    resp = await client.put("/api/v1/admin/urban-boundary", data=json.dumps({"type": "Polygon", "coordinates": [SQUARE]}),
                            headers=admin_headers())
    assert resp.status == 200 and (await resp.json())["in_force"]
    assert await urban() == {"A": True, "B": True, "C": False, "D": True}
    resp = await client.put("/api/v1/admin/urban-boundary", data="1,2\n", headers=admin_headers())
    assert resp.status == 400 and "at least 3" in (await resp.json())["error"]["message"]

    csv_body = "stop_id,urban,note\nC,城区,new district\nB,false,\nZZ,true,\nD,maybe,\n"
    resp = await client.post("/api/v1/admin/urban-stops", data=csv_body, headers=admin_headers())
    answer = await resp.json()
    assert resp.status == 200 and answer["saved"] == 2
    assert [(r["line"], r["kind"]) for r in answer["rejections"]] == [(4, "unknown_stop"), (5, "bad_value")]
    assert await urban() == {"A": True, "B": False, "C": True, "D": True}

    resp = await client.put("/api/v1/admin/urban-stops/B", json={"urban": None}, headers=admin_headers())
    assert resp.status == 200
    assert (await urban())["B"] is True
    assert (await client.put("/api/v1/admin/urban-stops/NOPE", json={"urban": True}, headers=admin_headers())).status == 404
    resp = await client.put("/api/v1/admin/urban-stops/B", json={"urban": "perhaps"}, headers=admin_headers())
    assert resp.status == 400

    resp = await client.post("/api/v1/admin/urban-stops", json=[{"stop_id": "A", "urban": False}, 3],
                             headers=admin_headers())
    answer = await resp.json()
    assert answer["saved"] == 1 and answer["rejections"] == [{"index": 1, "kind": "malformed",
                                                               "detail": "expected a JSON object"}]
    assert (await urban())["A"] is False
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_rejections_total{kind="unknown_stop",source="urban_stops"} 1.0' in metrics

    body = await (await client.get("/api/v1/admin/urban-stops", headers=admin_headers())).json()
    assert body["boundary"] == "database" and {f["stop_id"] for f in body["flags"]} == {"A", "C"}
    assert (await client.delete("/api/v1/admin/urban-boundary", headers=admin_headers())).status == 200
    assert await urban() == {"A": False, "B": False, "C": True, "D": False}  # only C is flagged urban


async def test_a_broken_boundary_file_stops_start_up_with_the_reason(settings: Settings, pool: asyncpg.Pool,
                                                                    tmp_path: Path) -> None:
    bad = tmp_path / "urban.geojson"
    bad.write_text('{"type": "Polygon", "coordinates": [[[1, 2], [3, 4]]]}')
    services = Services(settings=settings.replace(**{"reports.urban_boundary": str(bad)}), pool=pool)
    with pytest.raises(BoundaryError, match=r"urban\.geojson.*at least 3"):
        create_app(services, components=["transit.app.health:setup", "transit.reports.http:setup"])
    missing = Services(settings=settings.replace(**{"reports.urban_boundary": str(tmp_path / "none.json")}), pool=pool)
    with pytest.raises(BoundaryError, match="cannot be read"):
        create_app(missing, components=["transit.reports.http:setup"])
