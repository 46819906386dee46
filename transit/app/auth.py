"""Token checks for ingest and admin endpoints, compared in constant time."""

from __future__ import annotations

import hmac

from aiohttp import web

from transit.app.errors import json_error
from transit.app.services import get_services


def _presented(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Transit-Token")


def token_matches(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def check_token(request: web.Request, kind: str) -> None:
    """Raise 401 unless the request carries the ``kind`` ("ingest" or "admin") token.

    The admin token is also accepted where the ingest token is asked for.  A service with no
    token configured refuses every such request rather than leaving the door open.
    """
    settings = get_services(request).settings
    presented = _presented(request)
    expected = settings.ingest.token if kind == "ingest" else settings.admin.token
    if token_matches(presented, expected) or token_matches(presented, settings.admin.token):
        return
    if expected is None and settings.admin.token is None:
        raise json_error(401, "unauthorized", f"no {kind} token is configured on this service "
                                              f"(set TRANSIT_{kind.upper()}_TOKEN)")
    raise json_error(401, "unauthorized", f"a valid {kind} token is required (Authorization: Bearer ...)",
                     headers={"WWW-Authenticate": 'Bearer realm="transit"'})
