"""Responses serialised once and written many times: the hot polling endpoints' reply path.

aiohttp assembles every response afresh: a header multidict, ``Content-Length``, ``Date``,
``Server`` and ``Connection`` worked out per request, the status line formatted and the headers
serialised, then the body written through the payload writer.  For a stop board's unchanged frame
that costs more than everything the endpoint itself does.  A :class:`PreparedResponse` holds the
status line, headers and body as bytes, built once when the page is encoded; answering a poll
writes those bytes with the current ``Date`` to the connection.  It is immutable, so one object
serves every request for its page, concurrently.

It is used only where it answers exactly as aiohttp would: an HTTP/1.1 ``GET`` on a keep-alive
connection (see :func:`can_serve`).  Anything else gets an ordinary :class:`aiohttp.web.Response`
built from the same status, headers and body (:meth:`PreparedResponse.fallback`).

It implements what aiohttp's request handler asks of a response (``prepare``, ``write_eof``,
``keep_alive``, and ``status``, ``headers`` and ``body_length`` for the access log); the reply
path is checked on the wire by ``tests/test_prepared_response.py`` for the aiohttp in use.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import cast

from aiohttp import web
from aiohttp.http import HttpVersion11
from multidict import CIMultiDict, CIMultiDictProxy

_REASONS = {200: "OK", 304: "Not Modified"}
_OWN_HEADERS = ("Content-Length", "Date", "Connection", "Transfer-Encoding")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search  # (a tab is allowed)


class _DateLine:
    """``Date: ...\\r\\n`` for the current second, formatted once per second (RFC 9110 5.6.7)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def __call__(self) -> bytes:
        second = int(time.time())  # the wall clock: the HTTP Date header is real time, not the service clock
        if second != self._second:
            self._line = b"Date: " + email.utils.formatdate(second, usegmt=True).encode("ascii") + b"\r\n"
            self._second = second
        return self._line


_date_line = _DateLine()


def can_serve(request: web.BaseRequest) -> bool:
    """Whether a prepared reply is exactly what aiohttp would send: HTTP/1.1, connection kept alive."""
    return request.version == HttpVersion11 and request.keep_alive


class PreparedResponse:
    """A complete response for HTTP/1.1 keep-alive connections, as bytes (less the Date line)."""

    __slots__ = ("_body", "_head", "body_length", "headers", "status")

    #: the connection stays open after it (only keep-alive requests are answered with it)
    keep_alive = True

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        if status not in _REASONS:
            raise ValueError(f"status {status}: a prepared response is 200 or 304")
        if status == 304 and body:
            raise ValueError("a 304 response has no body")
        fields = CIMultiDict(headers)
        for name in _OWN_HEADERS:
            if name in fields:
                raise ValueError(f"header {name} is set by the prepared response itself")
        for name, value in fields.items():
            if _CONTROL(name) or _CONTROL(value):
                raise ValueError(f"header {name}: control characters in a header")
        if status == 200:
            fields["Content-Length"] = str(len(body))
        self.status = status
        self.headers = CIMultiDictProxy(fields)
        self._body = body
        self.body_length = len(body)
        self._head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode("ascii")
                      + "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("latin-1"))

    def wire(self) -> bytes:
        """The bytes a request gets now."""
        return self._head + _date_line() + b"\r\n" + self._body

    def respond(self, request: web.BaseRequest) -> web.StreamResponse:
        """This reply for ``request``: the prepared bytes where they are exactly what aiohttp would
        send (a GET that :func:`can_serve`), else the same reply as an aiohttp response."""
        if request.method == "GET" and can_serve(request):
            # aiohttp's request handler only calls what this class implements (module docstring)
            return cast(web.StreamResponse, self)
        return self.fallback()

    def fallback(self) -> web.Response:
        """The same reply as an ordinary aiohttp response, for a request :func:`can_serve` refuses."""
        headers = CIMultiDict(self.headers)
        headers.popall("Content-Length", None)
        return web.Response(status=self.status, headers=headers, body=self._body if self.status == 200 else None)

    # --- what aiohttp's request handler calls (web_protocol.RequestHandler.finish_response)

    async def prepare(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(self.wire())
        await request.writer.drain()  # waits only while the client is not reading

    async def write_eof(self, data: bytes = b"") -> None:
        return None

    def __repr__(self) -> str:
        return f"<PreparedResponse {self.status} {self.body_length} bytes>"
