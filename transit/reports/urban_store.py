"""Urban stop flags and the stored urban boundary, in PostgreSQL; and reading the boundary file.

The boundary file named by ``reports.urban_boundary`` wins over a stored one: a deployment that
configures it in its settings keeps it under configuration management.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from transit.core.rejection import Rejection, RejectionKind
from transit.reports.urban import Boundary, BoundaryError, parse_boundary

_TRUE = {"1", "true", "yes", "y", "urban", "是", "城区"}
_FALSE = {"0", "false", "no", "n", "rural", "否", "非城区"}


@dataclass(frozen=True, slots=True)
class FlagRow:
    stop_id: str
    urban: bool | None  # None: remove the flag (the boundary decides again)
    note: str | None = None


def read_boundary_file(path: str) -> Boundary:
    """Parse the boundary file; raise BoundaryError naming the file."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BoundaryError(f"reports.urban_boundary {path}: cannot be read ({exc.strerror})") from None
    try:
        return parse_boundary(text)
    except BoundaryError as exc:
        raise BoundaryError(f"reports.urban_boundary {path}: {exc}") from None


class BoundaryFile:
    """The configured boundary file, re-read when it changes on disk."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._stamp: float | None = None
        self._boundary: Boundary | None = None

    def get(self) -> Boundary | None:
        if not self.path:
            return None
        stamp = os.stat(Path(self.path).expanduser()).st_mtime if Path(self.path).expanduser().exists() else None
        if self._boundary is None or stamp != self._stamp:
            self._boundary = read_boundary_file(self.path)
            self._stamp = stamp
        return self._boundary


async def get_boundary(pool: asyncpg.Pool, file: BoundaryFile) -> tuple[Boundary | None, str]:
    """(boundary, where it came from: "file:PATH", "database" or "none")."""
    boundary = file.get()
    if boundary is not None:
        return boundary, f"file:{file.path}"
    doc = await pool.fetchval("SELECT geojson FROM urban_boundary WHERE id = 1")
    if doc is None:
        return None, "none"
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return parse_boundary(text), "database"


async def put_boundary(pool: asyncpg.Pool, text: str, source: str) -> Boundary:
    boundary = parse_boundary(text)
    await pool.execute(
        "INSERT INTO urban_boundary (id, geojson, source) VALUES (1, $1, $2) "
        "ON CONFLICT (id) DO UPDATE SET geojson = excluded.geojson, source = excluded.source, updated_at = now()",
        boundary.as_geojson(), source,
    )
    return boundary


async def delete_boundary(pool: asyncpg.Pool) -> bool:
    return (await pool.execute("DELETE FROM urban_boundary WHERE id = 1")).endswith(" 1")


async def list_flags(pool: asyncpg.Pool | asyncpg.Connection) -> dict[str, bool]:
    return {r["stop_id"]: r["urban"] for r in await pool.fetch("SELECT stop_id, urban FROM urban_stop_flags")}


async def list_flag_rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT stop_id, urban, note, updated_at FROM urban_stop_flags ORDER BY stop_id")
    return [{"stop_id": r["stop_id"], "urban": r["urban"], "note": r["note"],
             "updated_at": r["updated_at"].isoformat()} for r in rows]


async def save_flags(pool: asyncpg.Pool, rows: Iterable[FlagRow]) -> int:
    rows = list(rows)
    async with pool.acquire() as conn, conn.transaction():
        drop = [r.stop_id for r in rows if r.urban is None]
        if drop:
            await conn.execute("DELETE FROM urban_stop_flags WHERE stop_id = ANY($1::text[])", drop)
        keep = [(r.stop_id, r.urban, r.note) for r in rows if r.urban is not None]
        if keep:
            await conn.executemany(
                "INSERT INTO urban_stop_flags (stop_id, urban, note) VALUES ($1, $2, $3) "
                "ON CONFLICT (stop_id) DO UPDATE SET urban = excluded.urban, note = excluded.note, "
                "updated_at = now()", keep)
    return len(rows)


def parse_flag_value(value: Any) -> tuple[bool | None, str | None]:
    """(flag, problem): true/false/1/0/城区/非城区; empty or null clears the flag."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return value, None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    return None, f"urban must be true or false (or empty to clear), got {value!r}"


def parse_flags_csv(data: bytes, known_stops: Mapping[str, object] | None) -> tuple[list[FlagRow], list[Rejection]]:
    """CSV ``stop_id,urban[,note]``; rejections name file lines (header = line 1)."""
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[FlagRow] = []
    problems: list[Rejection] = []
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "stop_id" not in fields or "urban" not in fields:
        return [], [Rejection(1, RejectionKind.MISSING_FIELD,
                              f"the header must name stop_id and urban; found {','.join(fields)!r}")]
    reader.fieldnames = fields
    for record in reader:
        line = reader.line_num
        rows_or_problem = _flag_row({k: v for k, v in record.items() if k}, known_stops)
        if isinstance(rows_or_problem, FlagRow):
            rows.append(rows_or_problem)
        else:
            problems.append(Rejection(line, *rows_or_problem))
    return rows, problems


def parse_flags_json(body: Any, known_stops: Mapping[str, object] | None) -> tuple[list[FlagRow], list[Rejection]]:
    items = body.get("stops") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return [], [Rejection(0, RejectionKind.MALFORMED, 'expected a list of {"stop_id", "urban", "note"}')]
    rows: list[FlagRow] = []
    problems: list[Rejection] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Rejection(i, RejectionKind.MALFORMED, "expected a JSON object"))
            continue
        result = _flag_row(item, known_stops)
        if isinstance(result, FlagRow):
            rows.append(result)
        else:
            problems.append(Rejection(i, *result))
    return rows, problems


def _flag_row(item: Mapping[str, Any], known_stops: Mapping[str, object] | None
              ) -> FlagRow | tuple[RejectionKind, str]:
    stop_id = str(item.get("stop_id") or "").strip()
    if not stop_id:
        return RejectionKind.MISSING_FIELD, "stop_id is empty"
    if known_stops is not None and stop_id not in known_stops:
        return RejectionKind.UNKNOWN_STOP, f"stop {stop_id!r} is not in the active feed"
    flag, problem = parse_flag_value(item.get("urban"))
    if problem:
        return RejectionKind.BAD_VALUE, problem
    note = item.get("note")
    return FlagRow(stop_id, flag, str(note).strip() if note not in (None, "") else None)
