"""The JT/T 808 terminal registry: CSV import (CLI and HTTP), listing, and the admin API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from feeds.gps.jt808.commands import import_command, list_command
from feeds.gps.jt808.registry import TerminalRegistry
from feeds.gps.jt808.registry_csv import decode_text, parse_registry_csv, terminals_to_csv
from feeds.gps.jt808.terminal import Terminal
from tests.conftest import admin_headers, ingest_headers
from transit.app.server import create_app
from transit.app.services import Services
from transit.core.rejection import RejectionKind
from transit.settings import Settings

COMPONENTS = ["transit.app.health:setup", "feeds.gps.component:setup", "feeds.gps.jt808.component:setup"]

CSV = """phone,vehicle_id,plate,route_id
13800000001,ZQ-0101,鲁A·10101,K301
013800000002,ZQ-0102,鲁A·10102,K301

# a comment line
13800000003,,鲁A·10103,K302
1380000000X,ZQ-0104,鲁A·10104,K302
13800000005,ZQ-0105,鲁A·10105
13800000001,ZQ-0106,鲁A·10106,K303
13800000007,ZQ-0107,,
"""


def test_csv_rows_are_checked_line_by_line() -> None:
    parsed = parse_registry_csv(CSV)
    assert [(line, t) for line, t in parsed.terminals] == [
        (2, Terminal("13800000001", "ZQ-0101", "鲁A·10101", "K301")),
        (3, Terminal("13800000002", "ZQ-0102", "鲁A·10102", "K301")),
        (10, Terminal("13800000007", "ZQ-0107", None, None)),
    ]
    assert [(r.index, r.kind) for r in parsed.rejections] == [
        (6, RejectionKind.MISSING_FIELD), (7, RejectionKind.BAD_VALUE), (8, RejectionKind.MALFORMED),
        (9, RejectionKind.DUPLICATE),
    ]
    details = [r.detail for r in parsed.rejections]
    assert details[0] == "vehicle_id is missing"
    assert "'1380000000X' must be 1 to 20 digits" in details[1]
    assert "expected 4 fields" in details[2] and "found 3" in details[2]
    assert details[3] == "phone 13800000001 is already on line 2"


def test_csv_header_and_encodings() -> None:
    bad = parse_registry_csv("sim,bus\n1,2\n")
    assert [(r.index, r.kind) for r in bad.rejections] == [(1, RejectionKind.MISSING_FIELD)]
    assert "missing phone, vehicle_id" in bad.rejections[0].detail and bad.terminals == ()
    # Column order is free; Excel on Chinese Windows saves GBK, with or without a BOM in UTF-8.
    text = "route_id,plate,vehicle_id,phone\r\nK301,鲁A·10101,ZQ-0101,13800000001\r\n"
    for raw in (text.encode("gbk"), ("\ufeff" + text).encode("utf-8")):
        parsed = parse_registry_csv(decode_text(raw))
        assert parsed.terminals == ((2, Terminal("13800000001", "ZQ-0101", "鲁A·10101", "K301")),)
    round_trip = parse_registry_csv(terminals_to_csv([t for _, t in parse_registry_csv(CSV).terminals]))
    assert [t for _, t in round_trip.terminals] == [t for _, t in parse_registry_csv(CSV).terminals]


async def test_cli_import_keeps_good_rows_and_lists_them(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "terminals.csv"
    path.write_bytes(CSV.encode("gbk"))
    assert await import_command(argparse.Namespace(file=path), settings) == 1
    out, err = capsys.readouterr()
    assert "3 terminals created, 0 updated, 4 bad rows" in out
    assert "line 6: vehicle_id is missing" in err and "line 9: phone 13800000001 is already on line 2" in err
    # A second import updates rather than duplicates, and keeps issued codes.
    registry = TerminalRegistry(pool)
    await registry.update("13800000001", {"auth_code": "CODE1"})
    path.write_text("phone,vehicle_id,plate,route_id\n13800000001,ZQ-0999,鲁A·10999,K309\n", encoding="utf-8")
    assert await import_command(argparse.Namespace(file=path), settings) == 0
    assert "0 terminals created, 1 updated, 0 bad rows" in capsys.readouterr().out
    row = await registry.find_row("13800000001")
    assert row is not None and row.terminal == Terminal("13800000001", "ZQ-0999", "鲁A·10999", "K309")
    assert row.auth_code == "CODE1"
    assert await list_command(argparse.Namespace(route=None, csv=False), settings) == 0
    listing = capsys.readouterr().out
    assert "13800000001" in listing and "ZQ-0999" in listing and "3 terminals" in listing
    assert await list_command(argparse.Namespace(route="K301", csv=True), settings) == 0
    assert capsys.readouterr().out == "phone,vehicle_id,plate,route_id\n13800000002,ZQ-0102,鲁A·10102,K301\n"


async def test_cli_import_names_a_missing_file(settings: Settings, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert await import_command(argparse.Namespace(file=tmp_path / "nope.csv"), settings) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.fixture
async def client(settings: Settings, pool: asyncpg.Pool, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(Services(settings=settings, pool=pool), components=COMPONENTS))


async def test_admin_api_crud(client: Any) -> None:
    base = "/api/v1/admin/terminals"
    assert (await client.get(base)).status == 401
    assert (await client.get(base, headers=ingest_headers())).status == 401  # the ingest token is not enough
    body = {"phone": "013800000021", "vehicle_id": "ZQ-0121", "plate": "鲁A·10121", "route_id": "K301"}
    resp = await client.post(base, json=body, headers=admin_headers())
    assert resp.status == 201
    created = await resp.json()
    assert (created["phone"], created["vehicle_id"], created["plate"], created["auth_code_set"]) == \
        ("13800000021", "ZQ-0121", "鲁A·10121", False)
    assert (await client.post(base, json=body, headers=admin_headers())).status == 409
    # PATCH changes some fields; an auth code can be set but is never shown.
    resp = await client.patch(f"{base}/13800000021", json={"route_id": "K302", "auth_code": "ABC"},
                              headers=admin_headers())
    assert resp.status == 200
    patched = await resp.json()
    assert (patched["route_id"], patched["plate"], patched["auth_code_set"]) == ("K302", "鲁A·10121", True)
    assert "ABC" not in await resp.text()
    # PUT replaces (or creates).
    resp = await client.put(f"{base}/13800000022", json={"vehicle_id": "ZQ-0122"}, headers=admin_headers())
    assert resp.status == 201
    resp = await client.put(f"{base}/13800000021", json={"vehicle_id": "ZQ-0121"}, headers=admin_headers())
    assert resp.status == 200 and (await resp.json())["route_id"] is None
    listed = await (await client.get(base, headers=admin_headers())).json()
    assert [t["phone"] for t in listed["terminals"]] == ["13800000021", "13800000022"]
    assert listed["server"]["connections"] == 0
    only = await (await client.get(base + "?vehicle_id=ZQ-0122", headers=admin_headers())).json()
    assert only["count"] == 1
    assert (await client.delete(f"{base}/13800000022", headers=admin_headers())).status == 204
    assert (await client.delete(f"{base}/13800000022", headers=admin_headers())).status == 404
    assert (await client.get(f"{base}/13800000022", headers=admin_headers())).status == 404


async def test_admin_api_names_bad_input_and_counts_it(client: Any) -> None:
    base = "/api/v1/admin/terminals"
    cases = [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"phone": "12ab", "vehicle_id": "x"}', "must be 1 to 20 digits"),
        (b'{"phone": "1"}', "vehicle_id is missing"),
        (b'{"phone": "1", "vehicle_id": "x", "colour": "red"}', "unknown field(s) colour"),
        (b'{"phone": "1", "vehicle_id": "x", "plate": "' + b"A" * 80 + b'"}', "plate is 80 characters"),
    ]
    for raw, words in cases:
        resp = await client.post(base, data=raw, headers={**admin_headers(), "Content-Type": "application/json"})
        assert resp.status == 400, raw
        error = (await resp.json())["error"]
        assert words in error["message"], (words, error)
    resp = await client.patch(f"{base}/13800000099", json={"plate": "x"}, headers=admin_headers())
    assert resp.status == 404
    metrics = await (await client.get("/metrics")).text()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith('transit_rejections_total{') and 'source="jt808_registry"' in line)
    assert counted == len(cases)


async def test_admin_csv_import(client: Any) -> None:
    resp = await client.post("/api/v1/admin/terminals/import", data=CSV.encode("gbk"),
                             headers={**admin_headers(), "Content-Type": "text/csv"})
    assert resp.status == 200
    result = await resp.json()
    assert (result["created"], result["updated"]) == (3, 0)
    assert [r["line"] for r in result["rejections"]] == [6, 7, 8, 9]
    resp = await client.post("/api/v1/admin/terminals/import", data=b"sim,bus\n",
                             headers={**admin_headers(), "Content-Type": "text/csv"})
    assert resp.status == 400
