"""JT/T 808 (2011, 2013, 2019): the protocol Chinese bus terminals speak, over TCP.

Pure codec (no I/O): ``framing`` (flags, escapes, check code, stream splitting), ``packet`` (the
header in both layouts), ``location`` (0x0200 and 0x0704 bodies), ``messages`` (registration,
authentication, responses), ``reassembly`` (sub-packages), ``codec`` (frame → typed message),
``terminal`` (registry record → Fix) and ``registry_csv``.  Adapters: ``registry`` (PostgreSQL),
``server`` (asyncio TCP), ``admin`` (HTTP), ``commands`` (CLI), ``component`` (wiring) and
``simulator`` (a terminal in software for tests, benchmarks and the demo).
"""

from feeds.gps.jt808.codec import Decoded, Message, decode, decode_message, decode_wire
from feeds.gps.jt808.framing import FrameSplitter, escape, seal, unescape, xor_checksum
from feeds.gps.jt808.location import (
    LocationBatch,
    LocationReport,
    decode_batch,
    decode_location,
    encode_batch,
    encode_location,
    encode_report,
)
from feeds.gps.jt808.messages import Authenticate, Register, TerminalResponse
from feeds.gps.jt808.packet import (
    EDITION_2013,
    EDITION_2019,
    Header,
    Packet,
    decode_frame,
    encode_packet,
    encode_reply,
    normalise_phone,
    parse_header,
    phone_to_bcd,
)
from feeds.gps.jt808.reassembly import SubpackageAssembler
from feeds.gps.jt808.registry_csv import ParsedRegistry, parse_registry_csv
from feeds.gps.jt808.terminal import Terminal, report_to_fix

__all__ = [
    "EDITION_2013", "EDITION_2019", "Authenticate", "Decoded", "FrameSplitter", "Header", "LocationBatch",
    "LocationReport", "Message", "Packet", "ParsedRegistry", "Register", "SubpackageAssembler", "Terminal",
    "TerminalResponse", "decode", "decode_batch", "decode_frame", "decode_location", "decode_message",
    "decode_wire", "encode_batch", "encode_location", "encode_packet", "encode_reply", "encode_report",
    "escape", "normalise_phone", "parse_header", "parse_registry_csv", "phone_to_bcd", "report_to_fix",
    "seal", "unescape", "xor_checksum",
]
