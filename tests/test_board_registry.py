"""The board registry: CSV import (CLI and API), the admin API, keys kept only as HMACs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from display.board_csv import parse_board_csv
from display.registry import list_boards
from tests.conftest import admin_headers
from tests.test_board_fixtures import (  # noqa: F401 (fixtures)
    BOARD_COMPONENTS,
    KEY,
    add_boards,
    board_services_fixture,
    spec,
    tiny_index_fixture,
)
from transit.app.server import create_app
from transit.app.services import Services
from transit.cli import main as transit_main
from transit.core.rejection import RejectionKind

HEADER = "board_id,stop_ids,route_ids,rows,cols,encoding,languages,key,poll_interval_s,location"
GOOD_KEY = "k" * 20

CSV = f"""{HEADER},delivery,frame_format
B1,B,,4,32,GB2312,zh,{GOOD_KEY},10,乙站 北侧,poll,json
B2,B;C,R1,2,24,gbk,zh+en,,15,"乙站, 两个方向",both,raw
B3,B,,4,32,BIG5,zh,{GOOD_KEY},10,bad encoding,poll,json
B4,Z9,,4,32,UTF-8,zh,{GOOD_KEY},10,unknown stop,poll,json
B5,B,,4,32,UTF-8,zh,short,10,short key,poll,json
B1,B,,4,32,UTF-8,zh,{GOOD_KEY},10,repeated id,poll,json
B6,B,,4,32,UTF-8,zh,{GOOD_KEY},10
B7,B,,0,9999,UTF-8,fr,{GOOD_KEY},-1,several problems,fax,json

B8,B,L,1,16,utf8,中英,,5,last row after a blank line,mqtt,
"""


def test_csv_rows_are_checked_one_by_one_with_their_line_numbers() -> None:
    parsed = parse_board_csv(CSV, {"A", "B", "C", "D"}, {"R1", "L"})
    assert [(line, s.board_id) for line, s in parsed.specs] == [(2, "B1"), (3, "B2"), (11, "B8")]
    b2 = parsed.specs[1][1]
    assert b2.stop_ids == ("B", "C") and b2.route_ids == ("R1",) and b2.encoding == "GBK"
    assert b2.languages == "zh+en" and b2.key is None and b2.location == "乙站, 两个方向"
    assert b2.delivery == "both" and b2.frame_format == "raw"
    b8 = parsed.specs[2][1]
    assert (b8.encoding, b8.languages, b8.delivery, b8.frame_format) == ("UTF-8", "zh+en", "mqtt", "json")
    by_line = {r.index: r for r in parsed.rejections}
    assert sorted(by_line) == [4, 5, 6, 7, 8, 9]
    assert "encoding" in by_line[4].detail and "BIG5" in by_line[4].detail
    assert by_line[5].kind == RejectionKind.UNKNOWN_STOP and "Z9" in by_line[5].detail
    assert "key: must be at least 16" in by_line[6].detail
    assert by_line[7].kind == RejectionKind.DUPLICATE and "line 2" in by_line[7].detail
    assert "expected 12 fields, found 9" in by_line[8].detail
    for field in ("rows", "cols", "languages", "poll_interval_s", "delivery"):
        assert f"{field}:" in by_line[9].detail


def test_a_bad_header_names_the_columns() -> None:
    missing = parse_board_csv("board_id,stop_ids\nB1,B\n")
    assert missing.specs == () and missing.rejections[0].index == 1
    assert "missing column(s) route_ids, rows" in missing.rejections[0].detail
    typo = parse_board_csv(HEADER + ",delivry\n")
    assert "unknown column(s) delivry" in typo.rejections[0].detail


async def test_cli_import_keeps_good_rows_reports_bad_ones_and_prints_generated_keys(
        tiny_index: Any, db_url: str, pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "boards.csv"
    path.write_bytes(CSV.encode("gbk"))  # Chinese spreadsheets save GBK
    code = await asyncio.to_thread(transit_main, ["--database-url", db_url, "boards", "import", str(path)])
    out, err = capsys.readouterr()
    assert code == 1  # some rows were rejected
    assert "created B1\n" in out and "3 board(s) saved, 6 row(s) rejected of 9" in out
    generated = [line.split("key: ")[1] for line in out.splitlines() if line.startswith("created B2")]
    assert len(generated) == 1 and len(generated[0]) >= 32
    assert f"{path}:5: unknown_stop: stop_ids: not in the active schedule: Z9" in err
    boards = {b.board_id: b for b in await list_boards(pool)}
    assert sorted(boards) == ["B1", "B2", "B8"]
    assert boards["B2"].stop_ids == ("B", "C")
    assert boards["B2"].key_matches(generated[0]) and boards["B1"].key_matches(GOOD_KEY)
    assert not boards["B1"].key_matches(GOOD_KEY + "x")
    # keys are kept only as salted HMACs: the key appears nowhere in the table
    dump = await pool.fetchval("SELECT string_agg(b::text, '|') FROM boards b")
    assert GOOD_KEY not in dump and generated[0] not in dump

    # importing again updates, and a board without a key in the file keeps its key
    path.write_text(f"{HEADER}\nB2,B,,3,40,UTF-8,zh,,20,moved\n", encoding="utf-8")
    code = await asyncio.to_thread(transit_main, ["--database-url", db_url, "boards", "import", str(path)])
    out, _ = capsys.readouterr()
    assert code == 0 and "updated B2" in out and "key:" not in out
    b2 = next(b for b in await list_boards(pool) if b.board_id == "B2")
    assert (b2.rows, b2.cols, b2.location, b2.delivery) == (3, 40, "moved", "poll")
    assert b2.key_matches(generated[0])


async def admin_client(aiohttp_client: Any, services: Services) -> Any:
    return await aiohttp_client(create_app(services, components=BOARD_COMPONENTS))


async def test_admin_api_creates_updates_rekeys_and_retires_boards(
        board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    client = await admin_client(aiohttp_client, board_services)
    body = {"board_id": "N1", "stop_ids": ["B"], "rows": 2, "cols": 24, "encoding": "GB2312",
            "languages": "zh", "poll_interval_s": 10, "location": "新站牌"}
    assert (await client.post("/api/v1/admin/boards", json=body)).status == 401
    created = await client.post("/api/v1/admin/boards", json=body, headers=admin_headers())
    assert created.status == 201
    info = await created.json()
    key = info["key"]
    assert info["stop_names"] == ["乙站"] and info["status"]["online"] is False
    assert (await client.get(f"/boards/N1/frame?key={key}")).status == 200
    again = await client.post("/api/v1/admin/boards", json=body, headers=admin_headers())
    assert again.status == 409

    bad = await client.post("/api/v1/admin/boards", headers=admin_headers(),
                            json={**body, "board_id": "N2", "stop_ids": ["Q"], "rows": "many"})
    assert bad.status == 422
    problems = (await bad.json())["error"]["problems"]
    assert any(p.startswith("stop_ids:") for p in problems) and any(p.startswith("rows:") for p in problems)
    malformed = await client.post("/api/v1/admin/boards", data=b"{nope", headers=admin_headers())
    assert malformed.status == 400

    updated = await client.put("/api/v1/admin/boards/N1", json={"rows": 3, "languages": "zh+en"},
                               headers=admin_headers())
    assert updated.status == 200
    assert (await updated.json())["rows"] == 3 and "key" not in await updated.json()
    frame = await client.get(f"/boards/N1/frame?key={key}")
    assert len((await frame.read()).split(b"\n")) == 4  # three rows now

    rekeyed = await client.post("/api/v1/admin/boards/N1/key", headers=admin_headers())
    new_key = (await rekeyed.json())["key"]
    assert (await client.get(f"/boards/N1/frame?key={key}")).status == 401
    assert (await client.get(f"/boards/N1/frame?key={new_key}")).status == 200

    listed = await (await client.get("/api/v1/admin/boards", headers=admin_headers())).json()
    assert [b["board_id"] for b in listed["boards"]] == ["N1"]
    assert listed["boards"][0]["status"]["online"] is True

    assert (await client.delete("/api/v1/admin/boards/N1", headers=admin_headers())).status == 200
    assert (await client.get(f"/boards/N1/frame?key={new_key}")).status == 404
    assert await list_boards(pool) == []
    assert (await client.delete("/api/v1/admin/boards/N1", headers=admin_headers())).status == 404


async def test_admin_api_imports_csv(board_services: Services, pool: asyncpg.Pool, aiohttp_client: Any) -> None:
    client = await admin_client(aiohttp_client, board_services)
    resp = await client.post("/api/v1/admin/boards/import", data=CSV.encode(), headers=admin_headers())
    assert resp.status == 200
    report = await resp.json()
    assert report["created"] == ["B1", "B2", "B8"]
    assert sorted(report["generated_keys"]) == ["B2", "B8"]
    assert [r["index"] for r in report["rejections"]] == [4, 5, 6, 7, 8, 9]
    key = report["generated_keys"]["B8"]
    assert (await client.get(f"/boards/B8/frame?key={key}")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'transit_board_rejections_total{kind="bad_value",source="csv_import"} 3.0' in metrics


async def test_list_boards_gives_the_reports_their_ids_and_stops(tiny_index: Any, pool: asyncpg.Pool) -> None:
    await add_boards(pool, spec("B2", stop_ids=("B", "C")), spec("B1"))
    boards = await list_boards(pool)
    assert [(b.board_id, b.stop_ids) for b in boards] == [("B1", ("B",)), ("B2", ("B", "C"))]
    assert "key_digest" not in repr(boards[0]) and "key_salt" not in repr(boards[0])  # never in logs
