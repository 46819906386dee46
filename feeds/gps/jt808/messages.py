"""Message bodies other than positions: registration, authentication, the general responses, and
the platform's replies (0x8001, 0x8100, 0x8003), with encoders for both directions so that the
simulated terminals of tests, benchmarks and the demo speak exactly what the server parses.

Strings are GBK (read as GB18030, its superset).  Fixed-width fields are padded with 0x00 after
the text; some terminals pad in front instead, so 0x00 padding is stripped from both ends (a
terminal padding with ASCII '0', as one vector does, keeps its zeros: they could be real).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from feeds.gps.jt808.packet import EDITION_2019
from transit.core.rejection import Rejection, RejectionKind

# Message ids.
TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
LOGOUT = 0x0003
REGISTER = 0x0100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
BATCH = 0x0704
PLATFORM_RESPONSE = 0x8001
RESEND_REQUEST = 0x8003
REGISTER_RESPONSE = 0x8100

# 0x8001 results.
RESULT_OK = 0
RESULT_FAILURE = 1
RESULT_MESSAGE_ERROR = 2
RESULT_UNSUPPORTED = 3
RESULT_ALARM_CONFIRMED = 4

# 0x8100 results.
REGISTER_OK = 0
REGISTER_VEHICLE_TAKEN = 1
REGISTER_NO_VEHICLE = 2
REGISTER_TERMINAL_TAKEN = 3
REGISTER_NO_TERMINAL = 4

#: Plate colours of JT/T 415 (5 = green, added for new-energy plates; 9 = other).
PLATE_COLOURS = frozenset((0, 1, 2, 3, 4, 5, 9))

_RESPONSE = struct.Struct(">HHB")
_REGISTER_RESPONSE = struct.Struct(">HB")


def gbk_text(raw: bytes) -> str:
    return raw.strip(b"\x00").decode("gb18030", errors="replace")


def gbk_bytes(text: str) -> bytes:
    return text.encode("gb18030")


@dataclass(frozen=True, slots=True)
class TerminalResponse:
    """0x0001: the terminal acknowledges a platform message."""

    reply_serial: int
    reply_id: int
    result: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pass


@dataclass(frozen=True, slots=True)
class Logout:
    pass


@dataclass(frozen=True, slots=True)
class Register:
    province_id: int
    city_id: int
    maker_id: str
    model: str
    terminal_id: str
    plate_color: int
    #: Plate (or the VIN when plate_color is 0).
    plate: str
    #: Body layout: 2011, 2013 or 2019.
    edition: int


@dataclass(frozen=True, slots=True)
class Authenticate:
    code: str
    imei: str = ""
    software_version: str = ""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A well-formed message of an id this server does not handle (answered with result 3)."""

    msg_id: int


@dataclass(frozen=True, slots=True)
class PlatformResponse:
    """0x8001."""

    reply_serial: int
    reply_id: int
    result: int


@dataclass(frozen=True, slots=True)
class RegisterResponse:
    """0x8100."""

    reply_serial: int
    result: int
    code: str | None


# Register layouts: (maker, model, terminal id) widths.
_LAYOUTS = {2011: (5, 8, 7), 2013: (5, 20, 7), 2019: (11, 30, 30)}


def _register_layout(body: bytes, header_edition: int) -> int:
    if header_edition == EDITION_2019:
        return 2019
    if len(body) < 37:
        return 2011
    # Both fit: prefer the layout whose plate colour byte is a real colour.
    if body[36] not in PLATE_COLOURS and body[24] in PLATE_COLOURS:
        return 2011
    return 2013


def decode_register(body: bytes, header_edition: int, index: int = 0) -> Register | Rejection:
    edition = _register_layout(body, header_edition)
    maker_w, model_w, id_w = _LAYOUTS[edition]
    fixed = 4 + maker_w + model_w + id_w + 1
    if len(body) < fixed:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated registration body: {len(body)} bytes, the {edition} layout needs {fixed}")
    province, city = struct.unpack_from(">HH", body, 0)
    i = 4
    maker = gbk_text(body[i:i + maker_w])
    i += maker_w
    model = gbk_text(body[i:i + model_w])
    i += model_w
    terminal_id = gbk_text(body[i:i + id_w])
    i += id_w
    return Register(province, city, maker, model, terminal_id, body[i], gbk_text(body[i + 1:]), edition)


def encode_register(reg: Register) -> bytes:
    maker_w, model_w, id_w = _LAYOUTS[reg.edition]

    def fixed(text: str, width: int) -> bytes:
        return gbk_bytes(text)[:width].ljust(width, b"\x00")

    return (struct.pack(">HH", reg.province_id, reg.city_id) + fixed(reg.maker_id, maker_w)
            + fixed(reg.model, model_w) + fixed(reg.terminal_id, id_w)
            + bytes((reg.plate_color,)) + gbk_bytes(reg.plate))


def decode_authenticate(body: bytes, header_edition: int, index: int = 0) -> Authenticate | Rejection:
    if header_edition == EDITION_2019:
        if not body:
            return Rejection(index, RejectionKind.MALFORMED, "empty 2019 authentication body")
        size = body[0]
        if len(body) < 1 + size:
            return Rejection(index, RejectionKind.MALFORMED,
                             f"authentication code declares {size} bytes but {len(body) - 1} remain")
        code = gbk_text(body[1:1 + size])
        rest = body[1 + size:]
        imei = gbk_text(rest[:15])
        version = gbk_text(rest[15:35])
    else:
        code, imei, version = gbk_text(body), "", ""
    if not code:
        return Rejection(index, RejectionKind.MISSING_FIELD, "authentication code is empty")
    return Authenticate(code, imei, version)


def encode_authenticate(auth: Authenticate, edition: int) -> bytes:
    code = gbk_bytes(auth.code)
    if edition != EDITION_2019:
        return code
    return (bytes((len(code),)) + code + gbk_bytes(auth.imei)[:15].ljust(15, b"\x00")
            + gbk_bytes(auth.software_version)[:20].ljust(20, b"\x00"))


def decode_terminal_response(body: bytes, index: int = 0) -> TerminalResponse | Rejection:
    if len(body) < 5:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated terminal response: {len(body)} bytes, needs 5")
    return TerminalResponse(*_RESPONSE.unpack_from(body, 0))


def encode_terminal_response(resp: TerminalResponse) -> bytes:
    return _RESPONSE.pack(resp.reply_serial, resp.reply_id, resp.result)


def encode_platform_response(reply_serial: int, reply_id: int, result: int) -> bytes:
    return _RESPONSE.pack(reply_serial & 0xFFFF, reply_id, result)


def decode_platform_response(body: bytes, index: int = 0) -> PlatformResponse | Rejection:
    if len(body) < 5:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated platform response: {len(body)} bytes, needs 5")
    return PlatformResponse(*_RESPONSE.unpack_from(body, 0))


def encode_register_response(reply_serial: int, result: int, code: str | None) -> bytes:
    body = _REGISTER_RESPONSE.pack(reply_serial & 0xFFFF, result)
    if result == REGISTER_OK and code:
        body += gbk_bytes(code)
    return body


def decode_register_response(body: bytes, index: int = 0) -> RegisterResponse | Rejection:
    if len(body) < 3:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated registration response: {len(body)} bytes, needs 3")
    serial, result = _REGISTER_RESPONSE.unpack_from(body, 0)
    code = gbk_text(body[3:]) if result == REGISTER_OK and len(body) > 3 else None
    return RegisterResponse(serial, result, code)


def encode_resend_request(first_serial: int, missing: list[int], edition: int) -> bytes:
    """0x8003: ask the terminal again for the sub-packages that never arrived."""
    count = struct.pack(">H", len(missing)) if edition == EDITION_2019 else bytes((min(len(missing), 255),))
    ids = missing if edition == EDITION_2019 else missing[:255]
    return struct.pack(">H", first_serial & 0xFFFF) + count + b"".join(struct.pack(">H", i) for i in ids)
