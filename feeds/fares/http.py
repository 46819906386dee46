"""``POST /api/v1/ingest/fares``: fare batches from the fare collection system (ingest token).

The answer says what was kept and, row by row, what was not: CSV rejections name file lines
(the header is line 1), JSON rejections positions in the list.  Nothing is acknowledged before
it is committed; when PostgreSQL is unreachable the sender gets 503 and sends the batch again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from aiohttp import web

from feeds.fares.importer import decode, import_batch, limits_from, sniff_format
from feeds.fares.parse import FareBatch
from feeds.fares.store import list_batches
from transit.app.auth import check_token
from transit.app.errors import json_error
from transit.app.health import add_link
from transit.app.services import Services, get_services

log = logging.getLogger(__name__)


def batch_answer(batch: FareBatch) -> dict[str, Any]:
    where = "line" if batch.format == "csv" else "index"
    return {
        "rows": batch.rows,
        "rejected": batch.rejected,
        "rejected_by_kind": batch.rejected_by_kind,
        "rejections": [{where: r.index, "kind": str(r.kind), "detail": r.detail} for r in batch.rejections],
        "rejections_truncated": batch.rejected > len(batch.rejections),
    }


async def ingest_fares(request: web.Request) -> web.Response:
    check_token(request, "ingest")
    services = get_services(request)
    data = await request.read()
    if not data.strip():
        raise json_error(400, "empty_body", "the body is empty; send CSV (text/csv) or JSON fare records")
    fmt = request.query.get("format") or sniff_format(data, request.content_type)
    if fmt not in ("csv", "json"):
        raise json_error(400, "bad_parameter", f"format must be csv or json, got {fmt!r}", parameter="format")
    limits = limits_from(services.settings, services.clock.now())
    batch = await asyncio.to_thread(decode, data, fmt, limits)
    answer = batch_answer(batch)
    if batch.empty:
        from feeds.fares.metrics import get_fare_metrics

        get_fare_metrics(services.registry).count("http", batch, None)
        status = 400 if batch.rows == 0 else 422
        message = (batch.rejections[0].detail if batch.rejections and batch.rows == 0
                   else f"none of the {batch.rows} rows could be used")
        raise json_error(status, "rejected", message, **answer)
    try:
        result = await import_batch(services.pool, batch, "http", services.registry)
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError, asyncpg.exceptions.OperatorInterventionError) as exc:
        log.warning("fare batch not stored: %s", exc)
        raise json_error(503, "storage_unavailable", "the database is unreachable; nothing was stored, "
                         "send the batch again", headers={"Retry-After": "5"}) from None
    assert result is not None
    return web.json_response({**result.as_json(), **answer}, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


async def batches(request: web.Request) -> web.Response:
    check_token(request, "admin")
    try:
        limit = min(500, max(1, int(request.query.get("limit", "50"))))
    except ValueError:
        raise json_error(400, "bad_parameter", "limit must be a whole number", parameter="limit") from None
    rows = await list_batches(get_services(request).pool, limit)
    return web.json_response({"batches": rows}, dumps=_dumps)


def setup(app: web.Application, services: Services) -> None:
    app.router.add_post("/api/v1/ingest/fares", ingest_fares)
    app.router.add_get("/api/v1/admin/fares/batches", batches)
    add_link(app, "/api/v1/admin/fares/batches", "票务数据导入批次 Fare import batches", "operators")
