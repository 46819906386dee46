"""Response bodies made once and served many times: JSON bytes with their ETag, memoised per
snapshot (live data) or per schedule index (stops, routes).

A request for a popular stop costs a dict lookup and a header comparison: the body, its ETag
(a hash of the bytes, so equal content gives equal tags across snapshots) and its headers are
computed when the entry is built.  A client that sends the ETag back in If-None-Match gets 304.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from transit.core.snapshot import Snapshot
from transit.schedule.index import ScheduleIndex

#: Live data: a shared cache may keep it a few seconds (the memo rebuilds at least this often).
LIVE = "public, max-age=5"
#: Network data: changes only with a new feed version.
STATIC = "public, max-age=300"
JSON_TYPE = "application/json; charset=utf-8"

#: Entries kept per snapshot (or per index) before the table is emptied: bounds the memory a
#: client can make the service spend by asking for many different things.
MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    body: bytes
    etag: str
    headers: dict[str, str]
    not_modified_headers: dict[str, str]
    built_now: float
    index: ScheduleIndex | None = None
    payload: Any = field(default=None, repr=False)


#: Keys that are not strings (a stop sequence, a day) are written as strings, as ``json`` does.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON.  orjson writes the same document as ``json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))`` about five times faster, and encoding is a fifth of the cost of
    rebuilding a stop's arrivals for each new snapshot."""
    return orjson.dumps(payload, option=_ORJSON_OPTIONS)


def make_entry(payload: Any, cache_control: str, now: float, index: ScheduleIndex | None = None,
               content_type: str = JSON_TYPE, body: bytes | None = None) -> Entry:
    data = dumps(payload) if body is None else body
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    headers = {"Content-Type": content_type, "ETag": etag, "Cache-Control": cache_control}
    return Entry(data, etag, headers, {"ETag": etag, "Cache-Control": cache_control}, now, index, payload)


def etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def respond(request: web.Request, entry: Entry) -> web.Response:
    """200 with the body, or 304 when the client already holds this ETag."""
    inm = request.headers.get("If-None-Match")
    if inm is not None and etag_matches(inm, entry.etag):
        return web.Response(status=304, headers=entry.not_modified_headers)
    return web.Response(body=entry.body, headers=entry.headers)


def snapshot_memo(
    snapshot: Snapshot, table: str, key: Any, now: float, index: ScheduleIndex, ttl_s: float | None,
    build: Callable[[], Entry],
) -> Entry:
    """The entry for ``key`` in the snapshot's ``table``, rebuilt when older than ``ttl_s`` (for
    bodies that also depend on the time: minutes away, what has passed) or made for another index."""
    entries: dict[Any, Entry] = snapshot.derived(("api", table), _new_table)
    entry = entries.get(key)
    if entry is not None and entry.index is index and (ttl_s is None or now - entry.built_now < ttl_s):
        return entry
    entry = build()
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
    entries[key] = entry
    return entry


_BY_INDEX: weakref.WeakKeyDictionary[ScheduleIndex, dict[Any, Entry]] = weakref.WeakKeyDictionary()


def index_memo(index: ScheduleIndex, key: Any, build: Callable[[], Entry]) -> Entry:
    """The entry for ``key``, made once per schedule index (feed version)."""
    entries = _BY_INDEX.get(index)
    if entries is None:
        entries = _BY_INDEX[index] = {}
    entry = entries.get(key)
    if entry is None:
        entry = build()
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = entry
    return entry


def _new_table(_: Snapshot) -> dict[Any, Entry]:
    return {}


def client_ip(request: web.Request, trust_forwarded_for: bool) -> str:
    """The client's address; behind a trusted proxy, the one the proxy appended to
    X-Forwarded-For (the rightmost: entries to its left come from the client and can be forged)."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return last
    return request.remote or "unknown"
