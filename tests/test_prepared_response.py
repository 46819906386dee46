"""Prepared responses on the wire: what a client reads is what aiohttp itself would have sent.

The polling endpoint answers keep-alive HTTP/1.1 GETs with bytes serialised once per page
(:mod:`transit.app.prepared`).  These tests talk raw HTTP to a real aiohttp server so that the
bytes, the keep-alive connection, pipelining, HTTP/1.0, ``Connection: close`` and HEAD are
checked for the aiohttp version installed.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.http import HttpVersion10, HttpVersion11

from transit.app.prepared import PreparedResponse, can_serve

BODY = "1路 丙站  3站 5分\n".encode("gb2312")
OK = PreparedResponse(200, {"ETag": '"t1"', "Content-Type": "text/plain; charset=GB2312"}, BODY)
NOT_MODIFIED = PreparedResponse(304, {"ETag": '"t1"'})


async def reply(request: web.Request) -> web.StreamResponse:
    prepared = NOT_MODIFIED if request.headers.get("If-None-Match") == '"t1"' else OK
    return prepared.respond(request)


@pytest.fixture
async def server(aiohttp_server: Any) -> Any:
    app = web.Application()
    app.router.add_get("/frame", reply)  # GET and HEAD
    return await aiohttp_server(app)


async def exchange(server: Any, raw: bytes, expect: int = 1) -> list[tuple[str, dict[str, str], bytes]]:
    """Send ``raw`` on one connection and read ``expect`` responses (by Content-Length)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(raw)
    out = []
    try:
        for _ in range(expect):
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
            status_line, *lines = head[:-4].split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                assert name.lower() not in headers, f"header {name} sent twice"
                headers[name.lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            out.append((status_line, headers, await reader.readexactly(length) if length else b""))
    finally:
        writer.close()
    return out


async def test_a_200_carries_its_body_length_date_and_headers(server: Any) -> None:
    [(status, headers, body)] = await exchange(server, b"GET /frame HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert body == BODY
    assert headers["content-length"] == str(len(BODY))
    assert headers["etag"] == '"t1"'
    assert headers["content-type"] == "text/plain; charset=GB2312"
    assert "connection" not in headers  # keep-alive is HTTP/1.1's default
    sent = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
    assert abs(sent - time.time()) < 5


async def test_a_304_has_no_body_and_the_connection_serves_the_next_request(server: Any) -> None:
    raw = (b"GET /frame HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"t1\"\r\n\r\n"
           b"GET /frame HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /frame HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"t1\"\r\n\r\n")  # pipelined
    replies = await exchange(server, raw, expect=3)
    assert [r[0] for r in replies] == ["HTTP/1.1 304 Not Modified", "HTTP/1.1 200 OK", "HTTP/1.1 304 Not Modified"]
    assert "content-length" not in replies[0][1] and replies[0][2] == b""
    assert replies[1][2] == BODY
    assert replies[2][1]["etag"] == '"t1"'


async def test_http_1_0_and_connection_close_get_aiohttps_own_reply(server: Any) -> None:
    [(status, headers, body)] = await exchange(server, b"GET /frame HTTP/1.0\r\n\r\n")
    assert status == "HTTP/1.0 200 OK" and body == BODY and headers["etag"] == '"t1"'
    [(status, headers, body)] = await exchange(server, b"GET /frame HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == "HTTP/1.1 200 OK" and body == BODY
    assert headers["connection"].lower() == "close"


async def test_head_gets_the_headers_without_the_body(server: Any) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"HEAD /frame HTTP/1.1\r\nHost: t\r\n\r\nGET /frame HTTP/1.1\r\nHost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"ETag: \"t1\"" in head
    # the next bytes on the connection are the GET's reply, not a body for the HEAD
    second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert second.startswith(b"HTTP/1.1 200 OK")
    assert await reader.readexactly(len(BODY)) == BODY
    writer.close()


def test_only_keep_alive_http_1_1_gets_the_prepared_bytes() -> None:
    from aiohttp.test_utils import make_mocked_request

    assert can_serve(make_mocked_request("GET", "/frame", version=HttpVersion11))
    assert not can_serve(make_mocked_request("GET", "/frame", version=HttpVersion10))
    assert not can_serve(make_mocked_request("GET", "/frame", closing=True))
    head = make_mocked_request("HEAD", "/frame")
    assert isinstance(OK.respond(head), web.Response)


def test_the_reply_headers_are_checked_when_it_is_built() -> None:
    with pytest.raises(ValueError, match="status 404"):
        PreparedResponse(404, {})
    with pytest.raises(ValueError, match="304 response has no body"):
        PreparedResponse(304, {}, b"x")
    with pytest.raises(ValueError, match="header Content-Length"):
        PreparedResponse(200, {"content-length": "3"}, b"abc")
    with pytest.raises(ValueError, match="header X-Evil: control characters"):
        PreparedResponse(200, {"X-Evil": "a\r\nSet-Cookie: x=1"}, b"")
