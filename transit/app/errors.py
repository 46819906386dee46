"""JSON errors: one place that turns failures into responses naming what was wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


def json_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.HTTPException:
    """An HTTP exception with a JSON body ``{"error": {"code", "message", ...}}``; raise it."""
    body = json.dumps({"error": {"code": code, "message": message, **extra}}, ensure_ascii=False)
    cls = web.HTTPException
    for candidate in (
        web.HTTPBadRequest, web.HTTPUnauthorized, web.HTTPForbidden, web.HTTPNotFound,
        web.HTTPMethodNotAllowed, web.HTTPConflict, web.HTTPRequestEntityTooLarge,
        web.HTTPUnsupportedMediaType, web.HTTPUnprocessableEntity, web.HTTPTooManyRequests,
        web.HTTPInternalServerError, web.HTTPServiceUnavailable,
    ):
        if candidate.status_code == status:
            cls = candidate
            break
    if cls is web.HTTPRequestEntityTooLarge:  # its __init__ also wants the sizes
        return web.HTTPRequestEntityTooLarge(max_size=0, text=body, content_type="application/json", headers=headers)
    exc = cls(text=body, content_type="application/json", headers=headers)
    return exc


def not_found(kind: str, ident: str) -> web.HTTPException:
    """404 naming the id; the body carries it under the kind's name, e.g. ``{"stop": "X"}``."""
    extra = {"id": ident} if kind in ("code", "message", "headers", "status") else {kind: ident}
    return json_error(404, "not_found", f"unknown {kind} {ident!r}", **extra)


def bad_parameter(name: str, problem: str) -> web.HTTPException:
    return json_error(400, "bad_parameter", f"parameter {name}: {problem}", parameter=name)


def internal_error(request: web.Request) -> web.HTTPException:
    """Log the exception being handled and return the JSON 500 to raise in its place."""
    log.exception("unhandled error", extra={"path": request.path, "method": request.method})
    return json_error(500, "internal_error", "the service failed to handle this request")


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json" and request.path.startswith("/api/"):
            raise json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason) from None
        raise
    except Exception:
        raise internal_error(request) from None
