"""The bureau's endpoints: indicator reports (JSON, CSV, HTML), the monthly trend, the coverage
map, the /bureau dashboard, and the admin API for urban stops and the urban boundary.

Who may read reports: officials, not the public.  The figures are aggregates, but unfinished
months, lines without real-time service and fare volumes are the operator's business until
published, so the API asks for the read-only reports token (``reports.token``) or the admin
token; ``reports.public = true`` opens it on a closed network.  The dashboard page itself holds
no data and is served to anyone; it asks for the token and keeps it for the browser session.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web
from prometheus_client import Gauge

from transit.app.auth import check_token, token_matches
from transit.app.errors import bad_parameter, json_error, not_found
from transit.app.health import add_link
from transit.app.services import Services, get_services
from transit.reports.formats import CSV_TABLES, SCRIPTS, report_csv, report_html
from transit.reports.inputs import ReportSource, urban_stops
from transit.reports.period import Period, PeriodError, parse_period
from transit.reports.service import ReportService
from transit.reports.urban import BoundaryError
from transit.reports.urban_store import (
    BoundaryFile,
    FlagRow,
    delete_boundary,
    list_flag_rows,
    parse_flag_value,
    parse_flags_csv,
    parse_flags_json,
    put_boundary,
    read_boundary_file,
    save_flags,
)

REPORTS = web.AppKey("reports", ReportService)
BOUNDARY = web.AppKey("urban_boundary_file", BoundaryFile)
STATIC_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def may_read(request: web.Request) -> bool:
    settings = get_services(request).settings
    if settings.reports.public:
        return True
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else request.headers.get("X-Transit-Token")
    return token_matches(presented, settings.reports.token) or token_matches(presented, settings.admin.token)


def check_reader(request: web.Request) -> None:
    if may_read(request):
        return
    raise json_error(401, "unauthorized", "reports need the reports token (TRANSIT_REPORTS_TOKEN) or the admin "
                     "token: Authorization: Bearer ...", headers={"WWW-Authenticate": 'Bearer realm="reports"'})


def _source(request: web.Request) -> ReportSource:
    services = get_services(request)
    return ReportSource(services.pool, services.settings, services.schedule.current(), request.app[BOUNDARY])


def _period(request: web.Request) -> Period:
    services = get_services(request)
    q = request.query
    try:
        return parse_period(q.get("from"), q.get("to"), now=services.clock.now(), timezone=services.settings.timezone,
                            month=q.get("month"), day=q.get("day"))
    except PeriodError as exc:
        raise bad_parameter(exc.parameter, exc.problem) from None


async def access(request: web.Request) -> web.Response:
    """Whether this request may read reports: always 200, so the page can ask before it loads."""
    public = get_services(request).settings.reports.public
    return web.json_response({"allowed": may_read(request), "token_required": not public})


async def indicators(request: web.Request) -> web.StreamResponse:
    check_reader(request)
    period = _period(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "html"):
        raise bad_parameter("format", f"must be json, csv or html, got {fmt!r}")
    table = request.query.get("table", "summary")
    if fmt == "csv" and table not in CSV_TABLES:
        raise bad_parameter("table", f"must be one of {', '.join(CSV_TABLES)}, got {table!r}")
    service = request.app[REPORTS]
    source = _source(request)
    try:
        report = await service.report(source, period)
    except BoundaryError as exc:
        raise json_error(500, "urban_boundary", str(exc)) from None
    name = f"indicators_{period.date_from:%Y%m%d}_{period.date_to:%Y%m%d}"
    if fmt == "csv":
        return web.Response(text=report_csv(report, table), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}_{table}.csv"'})
    if fmt == "html":
        trend = await service.trend(source, period.date_to, 12, period.now)
        coverage = await service.coverage_map(source, period)
        return web.Response(text=report_html(report, trend, coverage), content_type="text/html", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.html"'})
    return web.json_response(report.as_json(), dumps=_dumps)


async def trend(request: web.Request) -> web.Response:
    check_reader(request)
    services = get_services(request)
    now = services.clock.now()
    text = request.query.get("to")
    try:
        months = int(request.query.get("months", "12"))
    except ValueError:
        raise bad_parameter("months", "must be a whole number") from None
    if not 1 <= months <= 36:
        raise bad_parameter("months", "must be between 1 and 36")
    try:
        last = parse_period(text, None, now=now, timezone=services.settings.timezone).date_to if text else \
            dt.datetime.fromtimestamp(now, services.settings.tz).date()
    except PeriodError as exc:
        raise bad_parameter("to", exc.problem) from None
    data = await request.app[REPORTS].trend(_source(request), last, months, now)
    return web.json_response(data, dumps=_dumps)


async def coverage_map(request: web.Request) -> web.Response:
    check_reader(request)
    period = _period(request)
    try:
        data = await request.app[REPORTS].coverage_map(_source(request), period)
    except BoundaryError as exc:
        raise json_error(500, "urban_boundary", str(exc)) from None
    return web.json_response(data, dumps=_dumps)


# ------------------------------------------------------------------------------ urban stops (admin)
def _known_stops(request: web.Request) -> dict[str, int] | None:
    index = get_services(request).schedule.current()
    return index.stop_pos if index is not None else None


async def list_urban_stops(request: web.Request) -> web.Response:
    check_token(request, "admin")
    source = _source(request)
    try:
        stops, _, origin = await urban_stops(source)
    except BoundaryError as exc:
        raise json_error(500, "urban_boundary", str(exc)) from None
    flags = await list_flag_rows(source.pool)
    return web.json_response({
        "boundary": origin, "flags": flags,
        "stops": [{"stop_id": s.stop_id, "name": s.name, "urban": s.urban, "rule": s.why} for s in stops],
        "urban": sum(s.urban for s in stops), "total": len(stops),
    }, dumps=_dumps)


async def import_urban_stops(request: web.Request) -> web.Response:
    check_token(request, "admin")
    data = await request.read()
    known = _known_stops(request)
    is_json = "json" in request.content_type or data.lstrip()[:1] in (b"[", b"{")
    if is_json:
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise json_error(400, "malformed", f"the body is not JSON: {exc}") from None
        rows, problems = parse_flags_json(body, known)
    else:
        rows, problems = parse_flags_csv(data, known)
    if problems:
        from feeds.gps.metrics import get_ingest_metrics

        get_ingest_metrics(get_services(request).registry).count_rejections("urban_stops", problems)
    where = "index" if is_json else "line"
    answer: dict[str, Any] = {"saved": len(rows), "rejected": len(problems),
              "rejections": [{where: p.index, "kind": str(p.kind), "detail": p.detail} for p in problems]}
    if not rows and problems:
        raise json_error(400 if problems[0].index in (0, 1) and len(problems) == 1 else 422, "rejected",
                         problems[0].detail, **answer)
    await save_flags(get_services(request).pool, rows)
    return web.json_response(answer, dumps=_dumps)


async def put_urban_stop(request: web.Request) -> web.Response:
    check_token(request, "admin")
    stop_id = request.match_info["stop_id"]
    known = _known_stops(request)
    if known is not None and stop_id not in known:
        raise not_found("stop", stop_id)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise json_error(400, "malformed", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or "urban" not in body:
        raise json_error(400, "missing_field", 'expected {"urban": true | false | null, "note": "..."}')
    flag, problem = parse_flag_value(body.get("urban"))
    if problem:
        raise bad_parameter("urban", problem)
    note = body.get("note")
    await save_flags(get_services(request).pool, [FlagRow(stop_id, flag, str(note) if note else None)])
    return web.json_response({"stop_id": stop_id, "urban": flag, "note": note}, dumps=_dumps)


async def delete_urban_stop(request: web.Request) -> web.Response:
    check_token(request, "admin")
    stop_id = request.match_info["stop_id"]
    await save_flags(get_services(request).pool, [FlagRow(stop_id, None)])
    return web.json_response({"stop_id": stop_id, "urban": None})


async def get_urban_boundary(request: web.Request) -> web.Response:
    check_reader(request)
    source = _source(request)
    from transit.reports.urban_store import get_boundary

    try:
        boundary, origin = await get_boundary(source.pool, request.app[BOUNDARY])
    except BoundaryError as exc:
        raise json_error(500, "urban_boundary", str(exc)) from None
    return web.json_response({"origin": origin, "geojson": boundary.as_geojson() if boundary else None})


async def put_urban_boundary(request: web.Request) -> web.Response:
    check_token(request, "admin")
    text = (await request.read()).decode("utf-8-sig", errors="replace")
    try:
        boundary = await put_boundary(get_services(request).pool, text, "admin api")
    except BoundaryError as exc:
        raise json_error(400, "bad_boundary", str(exc)) from None
    configured = request.app[BOUNDARY].path
    return web.json_response({
        "saved": True, "polygons": len(boundary.polygons),
        "in_force": not configured,
        "note": f"reports.urban_boundary ({configured}) is configured and takes precedence" if configured else "",
    }, dumps=_dumps)


async def remove_urban_boundary(request: web.Request) -> web.Response:
    check_token(request, "admin")
    return web.json_response({"deleted": await delete_boundary(get_services(request).pool)})


# ------------------------------------------------------------------------------ dashboard
async def bureau_page(request: web.Request) -> web.Response:
    return _static("index.html", "text/html")


async def bureau_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    types = {**dict.fromkeys(SCRIPTS, "application/javascript"), "bureau.css": "text/css"}
    if name not in types:
        raise web.HTTPNotFound(text=f"no such file {name!r}")
    return _static(name, types[name])


def _static(name: str, content_type: str) -> web.Response:
    from transit.reports.formats import static_text

    return web.Response(text=static_text(name), content_type=content_type, charset="utf-8", headers=STATIC_HEADERS)


def setup(app: web.Application, services: Services) -> None:
    path = services.settings.reports.urban_boundary
    if path:
        read_boundary_file(path)  # a wrong boundary stops start-up with the reason, not the first report
    app[REPORTS] = ReportService()
    app[BOUNDARY] = BoundaryFile(path)
    services.extras["reports"] = app[REPORTS]
    reports = app[REPORTS]
    Gauge("transit_report_last_seconds", "Time the last indicator report took to compute",
          registry=services.registry).set_function(lambda: reports.last_report_s)
    Gauge("transit_reports_made", "Indicator reports computed since start",
          registry=services.registry).set_function(lambda: reports.reports_made)
    r = app.router
    r.add_get("/api/v1/reports/access", access)
    r.add_get("/api/v1/reports/indicators", indicators)
    r.add_get("/api/v1/reports/trend", trend)
    r.add_get("/api/v1/reports/map", coverage_map)
    r.add_get("/api/v1/reports/urban-boundary", get_urban_boundary)
    r.add_get("/api/v1/admin/urban-stops", list_urban_stops)
    r.add_post("/api/v1/admin/urban-stops", import_urban_stops)
    r.add_put("/api/v1/admin/urban-stops/{stop_id}", put_urban_stop)
    r.add_delete("/api/v1/admin/urban-stops/{stop_id}", delete_urban_stop)
    r.add_put("/api/v1/admin/urban-boundary", put_urban_boundary)
    r.add_delete("/api/v1/admin/urban-boundary", remove_urban_boundary)
    r.add_get("/bureau", bureau_page)
    r.add_get("/bureau/static/{name}", bureau_asset)
    add_link(app, "/bureau", "交通运输局指标看板 Transport bureau dashboard", "bureau")
    add_link(app, "/api/v1/reports/indicators", "星级评价指标报告 Indicator report (JSON)", "bureau")
