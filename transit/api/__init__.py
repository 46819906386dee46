"""The rider API under /api/v1: arrivals, stops, routes, vehicles, trips, live stream, OpenAPI.

Pure views (``*_json.py``) turn the snapshot and the schedule into JSON-ready dicts; ``web.py``
serves them memoised per snapshot with ETags and a per-client rate limit; ``stream.py`` pushes a
stop's arrivals as Server-Sent Events.
"""

from transit.api.arrivals_json import arrivals_payload
from transit.api.openapi import openapi_document
from transit.api.ratelimit import RateLimiter
from transit.api.web import setup

__all__ = ["RateLimiter", "arrivals_payload", "openapi_document", "setup"]
