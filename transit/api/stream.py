"""``GET /api/v1/stops/{stop_id}/stream``: the stop's arrivals pushed as Server-Sent Events.

Each connection waits on the snapshot hub (``wait_newer``), never on a timer polling the
database.  When a snapshot arrives, or :data:`LIVE_TTL_S` passes (minutes away move with the
clock), it takes the same memoised body the arrivals endpoint serves, so a thousand riders
watching one stop cost one build per snapshot, and sends it only if it differs from what this
client last got.  Pushes are at least ``MIN_PUSH_INTERVAL_S`` apart however fast the tracker
publishes, and a ``heartbeat`` event goes out when nothing else did for ``stream_heartbeat_s``,
so clients and proxies can tell a quiet stop from a dead connection.

Events::

    event: arrivals            id: <snapshot version>     data: <the arrivals JSON body>
    event: heartbeat           data: {"time": "<ISO 8601>"}
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from transit.api.arrivals_cache import LIVE_TTL_S
from transit.api.timefmt import iso, zone
from transit.api.web import ApiState, current_index, parse_arrivals_query

MIN_PUSH_INTERVAL_S = 1.0


async def stop_stream(request: web.Request, state: ApiState) -> web.StreamResponse:
    services = state.services
    index = current_index(services)
    query = parse_arrivals_query(request, index)  # 404 / 400 before the stream starts
    heartbeat_s = services.settings.api.stream_heartbeat_s
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # tell nginx-style proxies not to buffer the stream
    })
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is not None:
        state.streams.add(task)
    last_etag = None
    last_write = loop.time()
    try:
        await response.write(b"retry: 3000\n\n")
        while not state.closing.is_set():
            snapshot = services.snapshots.current()
            index = services.schedule.current() or index
            now = services.clock.now()
            try:
                entry = state.arrivals.get(snapshot, index, query, now, strict=True)
            except LookupError:  # the stop left the schedule with a new feed version
                await response.write(b'event: gone\ndata: {"reason": "the stop is no longer in the schedule"}\n\n')
                break
            if entry.etag != last_etag:
                await response.write(b"event: arrivals\nid: %d\ndata: " % snapshot.version + entry.body + b"\n\n")
                last_etag = entry.etag
                last_write = loop.time()
                await asyncio.sleep(MIN_PUSH_INTERVAL_S)
            elif loop.time() - last_write >= heartbeat_s:
                beat = json.dumps({"time": iso(now, zone(index.timezone))}).encode()
                await response.write(b"event: heartbeat\ndata: " + beat + b"\n\n")
                last_write = loop.time()
            wait = min(LIVE_TTL_S, max(0.01, heartbeat_s - (loop.time() - last_write)))
            await services.snapshots.wait_newer(snapshot.version, timeout_s=wait)
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    except asyncio.CancelledError:
        if not state.closing.is_set():
            raise
    finally:
        if task is not None:
            state.streams.discard(task)
    return response
