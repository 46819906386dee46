"""The OpenAPI 3 description of the rider API and the feeds, served at ``/api/v1/openapi.json``.

Objects are closed (``additionalProperties: false``) and list their required fields, so the
tests that validate real responses against this document catch any drift between the two.
``GET /api/v1/accuracy`` belongs to the tracker; it is described here so that clients find the
whole public API in one place.
"""

from __future__ import annotations

from typing import Any

NULL_STR = {"type": "string", "nullable": True}
NULL_INT = {"type": "integer", "nullable": True}
NULL_TIME = {"type": "string", "format": "date-time", "nullable": True}
TIME = {"type": "string", "format": "date-time"}


def obj(properties: dict[str, Any], optional: tuple[str, ...] = (), nullable: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "properties": properties,
        "required": [k for k in properties if k not in optional],
    }
    if nullable:
        out["nullable"] = True
    return out


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


I18N = obj({"zh": {"type": "string"}, "en": NULL_STR})
STOP_FIELDS: dict[str, Any] = {
    "stop_id": {"type": "string"}, "stop_code": NULL_STR, "name": ref("I18nText"),
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
}
ROUTE_FIELDS: dict[str, Any] = {
    "route_id": {"type": "string"}, "route_short_name": {"type": "string"}, "route_long_name": ref("I18nText"),
    "route_type": {"type": "integer"}, "route_color": NULL_STR, "agency_id": NULL_STR,
}
ARRIVAL = obj({
    "route_id": {"type": "string"}, "route_short_name": {"type": "string"}, "trip_id": {"type": "string"},
    "service_date": {"type": "string", "format": "date"}, "direction_id": NULL_INT,
    "stop_sequence": {"type": "integer", "minimum": 0}, "headsign": ref("I18nText"),
    "arrival": {**TIME, "description": "Best estimate: the prediction when real-time, else the schedule."},
    "predicted_arrival": {**NULL_TIME, "description": "Null when schedule-based."},
    "scheduled_arrival": TIME,
    "departure": {**TIME, "description": "When the bus leaves the stop: at the first stop of a trip, the time to "
                                         "board by (a bus standing there waits for it)."},
    "predicted_departure": {**NULL_TIME, "description": "Null when schedule-based."},
    "scheduled_departure": TIME,
    "minutes_away": {"type": "integer", "minimum": 0},
    "stops_away": {**NULL_INT, "description": "Stops between the bus and this stop (0: this is its next stop)."},
    "distance_away_m": {**NULL_INT, "description": "Along the route, from the bus to this stop."},
    "realtime": {"type": "boolean", "description": "False: schedule-based (no live data for this trip)."},
    "status": {"type": "string", "enum": ["scheduled", "skipped", "canceled"]},
    "at_stop": {"type": "boolean"},
    "vehicle_id": NULL_STR,
    "schedule_deviation_s": {**NULL_INT, "description": "Positive: late.  For a trip not yet started, of its "
                                                        "departure from the first stop."},
    "uncertainty_s": {**NULL_INT, "description": "One standard deviation of the arrival time."},
    "last_fix": {**NULL_TIME, "description": "Time of the newest GPS fix behind the prediction."},
})
LINE = obj({
    "route_id": {"type": "string"}, "route_short_name": {"type": "string"}, "route_long_name": ref("I18nText"),
    "route_color": NULL_STR,
    "first_bus": {**NULL_TIME, "description": "First departure of the line at this stop on the current day."},
    "last_bus": {**NULL_TIME, "description": "Last departure of the line at this stop on the current day."},
    "next_first_bus": {**NULL_TIME, "description": "First departure on the next day with service."},
    "arrivals": array(ref("Arrival")),
})
CALL = obj({
    "stop_sequence": {"type": "integer"}, "stop_id": {"type": "string"}, "stop_name": {**I18N, "nullable": True},
    "scheduled_arrival": TIME, "scheduled_departure": TIME, "predicted_arrival": NULL_TIME,
    "predicted_departure": NULL_TIME, "uncertainty_s": NULL_INT,
    "status": {"type": "string", "enum": ["scheduled", "skipped", "no_data"]},
})
TRIP_HEADER: dict[str, Any] = {
    "trip_id": {"type": "string"}, "route_id": {"type": "string"}, "route_short_name": {"type": "string"},
    "direction_id": NULL_INT, "headsign": ref("I18nText"), "block_id": NULL_STR,
}
VEHICLE_FIELDS: dict[str, Any] = {
    "vehicle_id": {"type": "string"}, "label": NULL_STR,
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "lon": {"type": "number", "minimum": -180, "maximum": 180},
    "bearing_deg": {"type": "number", "nullable": True}, "speed_mps": {"type": "number", "nullable": True},
    "last_fix": TIME, "status": {"type": "string", "enum": ["INCOMING_AT", "STOPPED_AT", "IN_TRANSIT_TO"]},
    "stop_id": NULL_STR, "stop_sequence": NULL_INT, "stop_name": {**I18N, "nullable": True},
    "schedule_deviation_s": NULL_INT, "off_route": {"type": "boolean"},
    "assignment": {"type": "string", "description": "How the trip was found: trip_id, block, inferred, layover, none."},
    "trip": obj({**TRIP_HEADER, "service_date": {"type": "string", "format": "date", "nullable": True},
                 "start_time": NULL_STR}, nullable=True),
}
SCHEMAS: dict[str, Any] = {
    "I18nText": I18N,
    "Error": obj({"error": {
        "type": "object", "required": ["code", "message"], "additionalProperties": True,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "parameter": {"type": "string", "description": "The parameter that was wrong (400)."}},
    }}),
    "Stop": obj(STOP_FIELDS),
    "StopListItem": obj({**STOP_FIELDS, "distance_m": {"type": "number"}, "routes": array({"type": "string"})},
                        optional=("distance_m",)),
    "StopList": obj({"count": {"type": "integer"}, "total": {"type": "integer"},
                     "stops": array(ref("StopListItem"))}),
    "StopDetail": obj({**STOP_FIELDS, "parent_station": NULL_STR, "arrivals_url": {"type": "string"},
                       "routes": array(obj({**ROUTE_FIELDS, "headsigns": array({"type": "string"}),
                                            "direction_ids": array({"type": "integer"})}))}),
    "Arrival": ARRIVAL,
    "Line": LINE,
    "Arrivals": obj({"stop": ref("Stop"), "minutes": {"type": "integer"}, "limit": {"type": "integer"},
                     "per_line": {"type": "integer"},
                     "arrivals": array(ref("Arrival")), "lines": array(ref("Line"))}),
    "Route": obj(ROUTE_FIELDS),
    "RouteList": obj({"routes": array(ref("Route"))}),
    "RouteDetail": obj({**ROUTE_FIELDS, "directions": array(obj({
        "direction_id": NULL_INT, "headsign": ref("I18nText"), "trips": {"type": "integer"},
        "patterns": {"type": "integer"}, "trips_on_main_pattern": {"type": "integer"},
        "stops": array(obj({**STOP_FIELDS, "stop_sequence": {"type": "integer"}, "distance_m": {"type": "number"}})),
        "shape": array({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}),
    }, optional=("shape",)))}),
    "Call": CALL,
    "Vehicle": obj({**VEHICLE_FIELDS, "next_stops": array(ref("Call"))}, optional=("next_stops",)),
    "VehicleList": obj({"count": {"type": "integer"}, "vehicles": array(ref("Vehicle"))}),
    "RouteVehicles": obj({"route_id": {"type": "string"}, "count": {"type": "integer"},
                          "vehicles": array(ref("Vehicle"))}),
    "Trip": obj({**TRIP_HEADER, "service_date": {"type": "string", "format": "date", "nullable": True},
                 "start_time": NULL_STR, "realtime": {"type": "boolean"}, "stale": {"type": "boolean"},
                 "canceled": {"type": "boolean"}, "vehicle_id": NULL_STR, "schedule_deviation_s": NULL_INT,
                 "last_fix": NULL_TIME, "stops": array(obj({
                     **STOP_FIELDS, "stop_sequence": {"type": "integer"},
                     "scheduled_time": {"type": "string", "description": "GTFS time of day (may pass 24:00)."},
                     "scheduled_arrival": NULL_TIME, "scheduled_departure": NULL_TIME,
                     "predicted_arrival": NULL_TIME, "predicted_departure": NULL_TIME, "uncertainty_s": NULL_INT,
                     "distance_m": {"type": "number"},
                     "status": {"type": "string", "enum": ["passed", "scheduled", "skipped", "no_data", "canceled"]},
                 }))}),
    "Accuracy": {"type": "object", "additionalProperties": True, "description": (
        "Prediction accuracy measured by the service (owned by the tracker): per horizon bucket "
        "(0-3, 3-6, 6-12, 12-30 min) mean absolute error and share inside the published windows, "
        "overall and per line.")},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _responses(schema: str | None, *, errors: tuple[int, ...] = (400, 404), content_type: str = "application/json",
               body: dict[str, Any] | None = None) -> dict[str, Any]:
    ok_schema = body if body is not None else ref(schema) if schema else {"type": "object"}
    out: dict[str, Any] = {
        "200": {"description": "OK", "headers": {
            "ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
            "content": {content_type: {"schema": ok_schema}}},
        "304": {"description": "Not modified: the ETag sent in If-None-Match is still current."},
        "429": {**_error("Too many requests from this address."),
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}},
        "503": _error("No GTFS feed is loaded yet."),
    }
    if 400 in errors:
        out["400"] = _error("A parameter is malformed or out of range; `error.parameter` names it.")
    if 404 in errors:
        out["404"] = _error("Unknown id; the error names it.")
    return out


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


ROUTE_FILTER = _query("route_id", {"type": "string"}, "Only these lines (comma-separated, or repeat the parameter).")
ARRIVAL_PARAMS = [
    _path("stop_id", "GTFS stop_id"),
    ROUTE_FILTER,
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 10}, "Arrivals listed."),
    _query("per_line", {"type": "integer", "minimum": 0, "maximum": 200, "default": 3},
           "Arrivals listed under each line."),
    _query("minutes", {"type": "integer", "minimum": 1, "maximum": 1440, "default": 90}, "Look-ahead window."),
]


def openapi_document() -> dict[str, Any]:
    get = "get"
    paths: dict[str, Any] = {
        "/api/v1/stops": {get: {
            "operationId": "listStops", "summary": "Stops near a point, by name, or all",
            "parameters": [
                _query("near", {"type": "string", "pattern": r"^-?\d{1,2}(\.\d+)?,-?\d{1,3}(\.\d+)?$"},
                       "lat,lon in decimal degrees (WGS 84)"),
                _query("radius_m", {"type": "number", "minimum": 1, "maximum": 10000, "default": 500},
                       "Search radius around `near`, metres."),
                _query("q", {"type": "string"}, "Part of the stop's name (Chinese or English) or id."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                       "Stops returned at most."),
            ],
            "responses": _responses("StopList", errors=(400,)),
        }},
        "/api/v1/stops/{stop_id}": {get: {
            "operationId": "getStop", "summary": "A stop and the lines that call there",
            "parameters": [_path("stop_id", "GTFS stop_id")], "responses": _responses("StopDetail", errors=(404,)),
        }},
        "/api/v1/stops/{stop_id}/arrivals": {get: {
            "operationId": "listArrivals", "summary": "Next arrivals at a stop, soonest first and by line",
            "description": ("Real-time predictions where a bus is tracked, the schedule otherwise (`realtime` "
                            "false). Skipped and cancelled calls are listed with their status. Each line "
                            "carries its first and last bus at this stop."),
            "parameters": ARRIVAL_PARAMS, "responses": _responses("Arrivals"),
        }},
        "/api/v1/stops/{stop_id}/stream": {get: {
            "operationId": "streamArrivals", "summary": "Arrivals at a stop, pushed as Server-Sent Events",
            "description": ("`event: arrivals` carries the same JSON as the arrivals endpoint, sent on connect "
                            "and whenever it changes; `event: heartbeat` (`{\"time\": ...}`) when nothing "
                            "changed for a while."),
            "parameters": ARRIVAL_PARAMS,
            "responses": {**_responses(None, content_type="text/event-stream", body={"type": "string"})},
        }},
        "/api/v1/routes": {get: {
            "operationId": "listRoutes", "summary": "All lines", "responses": _responses("RouteList", errors=()),
        }},
        "/api/v1/routes/{route_id}": {get: {
            "operationId": "getRoute", "summary": "A line with its stops per direction",
            "parameters": [_path("route_id", "GTFS route_id"),
                           _query("shape", {"type": "boolean", "default": True}, "Include each direction's shape.")],
            "responses": _responses("RouteDetail"),
        }},
        "/api/v1/routes/{route_id}/vehicles": {get: {
            "operationId": "listRouteVehicles", "summary": "Buses now on a line",
            "parameters": [_path("route_id", "GTFS route_id")], "responses": _responses("RouteVehicles", errors=(404,)),
        }},
        "/api/v1/vehicles": {get: {
            "operationId": "listVehicles", "summary": "Buses in service", "parameters": [ROUTE_FILTER],
            "responses": _responses("VehicleList", errors=(400,)),
        }},
        "/api/v1/vehicles/{vehicle_id}": {get: {
            "operationId": "getVehicle", "summary": "A bus: position, trip, next stops",
            "parameters": [_path("vehicle_id", "Vehicle id")], "responses": _responses("Vehicle", errors=(404,)),
        }},
        "/api/v1/trips/{trip_id}": {get: {
            "operationId": "getTrip", "summary": "A trip stop by stop, with predictions for the stops ahead",
            "parameters": [
                _path("trip_id", "GTFS trip_id"),
                _query("service_date", {"type": "string", "format": "date"},
                       "Service day (YYYY-MM-DD or YYYYMMDD); default: the instance running now or next."),
                _query("start_time", {"type": "string", "pattern": r"^\d{2,3}:[0-5]\d:[0-5]\d$"},
                       "Start time of a frequency-based trip instance (HH:MM:SS)."),
            ],
            "responses": _responses("Trip"),
        }},
        "/api/v1/accuracy": {get: {
            "operationId": "getAccuracy", "summary": "Prediction accuracy measured by the service",
            "responses": _responses("Accuracy", errors=(400,)),
        }},
        "/api/v1/openapi.json": {get: {
            "operationId": "getOpenApi", "summary": "This document", "responses": _responses(None, errors=()),
        }},
        "/gtfs-rt/trip-updates": {get: _feed_operation("getTripUpdates", "GTFS-Realtime TripUpdates")},
        "/gtfs-rt/vehicle-positions": {get: _feed_operation("getVehiclePositions",
                                                            "GTFS-Realtime VehiclePositions")},
        "/gtfs/static.zip": {get: {
            "operationId": "getStaticGtfs", "summary": "The static GTFS feed the service runs on",
            "responses": {
                "200": {"description": "The GTFS zip", "content": {"application/zip": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "304": {"description": "Not modified."},
                "404": _error("No feed archive is stored."),
                "429": _error("Too many requests from this address."),
                "503": _error("No GTFS feed is loaded yet."),
            },
        }},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "章丘公交实时服务 Zhangqiu real-time transit",
            "version": "1.0.0",
            "description": ("Rider API: arrivals, stops, lines, buses and trips, with real-time predictions "
                            "from the service's tracker. No token is needed; each client address may make "
                            "a limited number of requests per second (429 with Retry-After beyond it). "
                            "Every response carries an ETag; send it back in If-None-Match for a 304. "
                            "Times are ISO 8601 with the agency's UTC offset."),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


def _feed_operation(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id, "summary": summary,
        "description": ("FULL_DATASET feed, rebuilt at most once a second from the tracker's snapshot. "
                        "`?format=json` returns the same message as readable JSON."),
        "parameters": [_query("format", {"type": "string", "enum": ["protobuf", "json"]}, "protobuf (default) or json")],
        "responses": {
            "200": {"description": "The feed", "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            }},
            "304": {"description": "Not modified."},
            "400": _error("Unknown format."),
            "429": _error("Too many requests from this address."),
            "503": _error("No GTFS feed is loaded yet."),
        },
    }
