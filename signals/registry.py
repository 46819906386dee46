"""The intersection registry in PostgreSQL: intersections with their controllers and cameras.

A change to an intersection marks the coverage-log days it affects (the days its devices sent
data, and the days already in its log) for recomputation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from signals.intersections import Intersection
from signals.store import mark_dirty
from transit.core.rejection import Rejection, RejectionKind

_SELECT = """
SELECT i.intersection_id, i.name, i.lat, i.lon, i.town, i.is_key, i.in_service_from,
       coalesce((SELECT array_agg(c.controller_id ORDER BY c.position, c.controller_id)
                 FROM intersection_controllers c WHERE c.intersection_id = i.intersection_id), '{}') AS controllers,
       coalesce((SELECT array_agg(c.camera_id ORDER BY c.position, c.camera_id)
                 FROM intersection_cameras c WHERE c.intersection_id = i.intersection_id), '{}') AS cameras
FROM intersections i
"""


def _row(r: asyncpg.Record) -> Intersection:
    return Intersection(r["intersection_id"], r["name"], r["lat"], r["lon"], r["town"], r["is_key"],
                        tuple(r["controllers"]), tuple(r["cameras"]), r["in_service_from"])


async def list_intersections(pool: asyncpg.Pool | asyncpg.Connection, *, key_only: bool = False) -> list[Intersection]:
    where = " WHERE i.is_key" if key_only else ""
    return [_row(r) for r in await pool.fetch(_SELECT + where + " ORDER BY i.intersection_id")]


async def find_intersection(pool: asyncpg.Pool | asyncpg.Connection, intersection_id: str) -> Intersection | None:
    row = await pool.fetchrow(_SELECT + " WHERE i.intersection_id = $1", intersection_id)
    return _row(row) if row else None


async def _affected_days(conn: asyncpg.Connection, intersection_id: str,
                         controllers: Sequence[str], cameras: Sequence[str]) -> list[dt.date]:
    rows = await conn.fetch(
        """SELECT day FROM signal_controller_days WHERE controller_id = ANY($2::text[])
           UNION SELECT day FROM camera_days WHERE camera_id = ANY($3::text[])
           UNION SELECT day FROM signal_coverage_days WHERE intersection_id = $1""",
        intersection_id, list(controllers), list(cameras))
    return sorted(r["day"] for r in rows)


async def upsert_intersections(
    pool: asyncpg.Pool, items: Sequence[tuple[int, Intersection]]
) -> tuple[list[Intersection], list[Rejection]]:
    """Create or replace each intersection; an item whose controller or camera belongs to another
    intersection is rejected (``index`` = the item's line or position) and the others are kept."""
    stored: list[Intersection] = []
    bad: list[Rejection] = []
    async with pool.acquire() as conn, conn.transaction():
        for index, item in items:
            clash = await conn.fetchrow(
                """SELECT 'controller' AS kind, controller_id AS ident, intersection_id FROM intersection_controllers
                   WHERE controller_id = ANY($1::text[]) AND intersection_id <> $3
                   UNION ALL
                   SELECT 'camera', camera_id, intersection_id FROM intersection_cameras
                   WHERE camera_id = ANY($2::text[]) AND intersection_id <> $3
                   LIMIT 1""",
                list(item.controller_ids), list(item.camera_ids), item.intersection_id)
            if clash:
                bad.append(Rejection(index, RejectionKind.DUPLICATE,
                                     f"line {index}: {clash['kind']} {clash['ident']!r} already belongs to "
                                     f"intersection {clash['intersection_id']!r}"))
                continue
            before = await find_intersection(conn, item.intersection_id)
            await conn.execute(
                """INSERT INTO intersections (intersection_id, name, lat, lon, town, is_key, in_service_from)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (intersection_id) DO UPDATE SET name = EXCLUDED.name, lat = EXCLUDED.lat,
                       lon = EXCLUDED.lon, town = EXCLUDED.town, is_key = EXCLUDED.is_key,
                       in_service_from = EXCLUDED.in_service_from, updated_at = now()""",
                item.intersection_id, item.name, item.lat, item.lon, item.town, item.is_key, item.in_service_from)
            await conn.execute("DELETE FROM intersection_controllers WHERE intersection_id = $1", item.intersection_id)
            await conn.execute("DELETE FROM intersection_cameras WHERE intersection_id = $1", item.intersection_id)
            await conn.executemany(
                "INSERT INTO intersection_controllers (controller_id, intersection_id, position) VALUES ($1, $2, $3)",
                [(c, item.intersection_id, i) for i, c in enumerate(item.controller_ids)])
            await conn.executemany(
                "INSERT INTO intersection_cameras (camera_id, intersection_id, position) VALUES ($1, $2, $3)",
                [(c, item.intersection_id, i) for i, c in enumerate(item.camera_ids)])
            if before != item:
                devices_c = set(item.controller_ids) | set(before.controller_ids if before else ())
                devices_k = set(item.camera_ids) | set(before.camera_ids if before else ())
                await mark_dirty(conn, item.intersection_id,
                                 await _affected_days(conn, item.intersection_id, sorted(devices_c), sorted(devices_k)))
            stored.append(item)
    return stored, bad


async def delete_intersection(pool: asyncpg.Pool, intersection_id: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute("DELETE FROM intersections WHERE intersection_id = $1", intersection_id)
        await conn.execute("DELETE FROM signal_dirty_days WHERE intersection_id = $1", intersection_id)
    return status.endswith(" 1")
