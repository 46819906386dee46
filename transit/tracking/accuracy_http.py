"""GET /api/v1/accuracy: how accurate the served predictions were, per horizon bucket.

No token: riders and the public may check the service's claims.  ``date`` (YYYY-MM-DD, a
service day in the agency's zone; default today) and ``route_id`` narrow it down.  Today's
figures come from the live monitor (what is still in memory included); other days from the
stored sums.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from transit.app.errors import bad_parameter, json_error
from transit.app.services import get_services
from transit.prediction.accuracy import AccuracyTable, table_from_totals
from transit.tracking import store

if TYPE_CHECKING:
    from transit.tracking.service import TrackerService


async def accuracy(request: web.Request) -> web.Response:
    services = get_services(request)
    service: TrackerService | None = services.extras.get("tracker")
    index = services.schedule.current()
    tz = index.tz if index is not None else services.settings.tz
    now = services.clock.now()
    today = dt.datetime.fromtimestamp(now, tz).date()
    text = request.query.get("date")
    if text:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise bad_parameter("date", f"{text!r} is not a date (YYYY-MM-DD)") from None
    else:
        day = today
    route_id = request.query.get("route_id") or None
    if route_id is not None and index is not None and index.find_route(route_id) is None:
        raise json_error(404, "not_found", f"unknown route {route_id!r}", route_id=route_id)
    if day == today and service is not None and service.engine is not None:
        table = service.engine.monitor.table(day)
        source = "live"
    else:
        rows = await store.read_accuracy(services.pool, day, day)
        table = table_from_totals((r, b, t) for _, r, b, t in rows)
        source = "stored"
    if route_id is not None:
        rows_for = table.by_route.get(route_id)
        table = AccuracyTable(overall=rows_for or table_from_totals(()).overall,
                              by_route={route_id: rows_for} if rows_for else {})
    body = {
        "date": day.isoformat(),
        "generated_at": dt.datetime.fromtimestamp(now, tz).isoformat(timespec="seconds"),
        "source": source,
        "definition": "horizon = predicted arrival - time served; error = actual - predicted arrival; "
                      "inside the window when -early_s <= error <= late_s",
        **table.as_json(),
    }
    return web.json_response(body, dumps=_dumps)


def _dumps(obj: object) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)
