"""Property tests: whatever bytes arrive, the JT/T 808 decoder answers with a message or a
rejection value, and never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.codec import Decoded, Message, decode, decode_message
from feeds.gps.jt808.framing import FrameSplitter, seal, unescape
from feeds.gps.jt808.location import (
    LocationBatch,
    LocationReport,
    decode_batch,
    decode_location,
    encode_batch,
    encode_items,
    encode_location,
)
from feeds.gps.jt808.packet import (
    EDITION_2013,
    EDITION_2019,
    Packet,
    encode_packet,
    peek_header,
    phone_to_bcd,
)
from feeds.gps.jt808.reassembly import SubpackageAssembler
from transit.core.rejection import Rejection, RejectionKind

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

phones = st.from_regex(r"[1-9][0-9]{0,11}", fullmatch=True)
editions = st.sampled_from([EDITION_2013, EDITION_2019])
lats = st.floats(-90, 90, allow_nan=False)
lons = st.floats(-180, 180, allow_nan=False)
instants = st.floats(946_684_800 + 86_400, 4_102_444_800 - 86_400, allow_nan=False)  # 2000-2099


#: Messages whose bodies the decoder reads (and so can find too short or malformed).
_READ = frozenset({m.LOCATION, m.BATCH, m.REGISTER, m.AUTHENTICATE, m.TERMINAL_RESPONSE})


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    edition = draw(editions)
    kind = draw(st.sampled_from(["location", "batch", "register", "auth", "heartbeat", "response", "other"]))
    if kind == "location":
        body = encode_location(draw(lats), draw(lons), draw(instants), speed_kmh=draw(st.floats(0, 200)),
                               direction_deg=draw(st.integers(0, 359)),
                               items=encode_items(mileage_km=draw(st.floats(0, 1e6)), satellites=7))
        msg_id = m.LOCATION
    elif kind == "batch":
        body = encode_batch([encode_location(draw(lats), draw(lons), draw(instants))
                             for _ in range(draw(st.integers(0, 5)))], draw(st.integers(0, 1)))
        msg_id = m.BATCH
    elif kind == "register":
        layout = 2019 if edition == EDITION_2019 else draw(st.sampled_from([2011, 2013]))
        body = m.encode_register(m.Register(37, 181, "ZQ", "M1", "T1", 1, draw(st.text(max_size=8)), layout))
        msg_id = m.REGISTER
    elif kind == "auth":
        body = m.encode_authenticate(m.Authenticate(draw(st.text(min_size=1, max_size=20)), "8", "v"), edition)
        msg_id = m.AUTHENTICATE
    elif kind == "heartbeat":
        body, msg_id = b"", m.HEARTBEAT
    elif kind == "response":
        body, msg_id = m.encode_terminal_response(m.TerminalResponse(1, 2, 0)), m.TERMINAL_RESPONSE
    else:  # a message the decoder does not read: any body is valid for it
        body, msg_id = draw(st.binary(max_size=64)), draw(st.integers(0, 0xFFFF).filter(lambda i: i not in _READ))
    body = body[:1023]
    package = draw(st.none() | st.tuples(st.integers(0, 5), st.integers(0, 5)))
    return encode_packet(msg_id, body, phone_to_bcd(draw(phones), edition), draw(st.integers(0, 0xFFFF)),
                         edition, draw(st.integers(0, 255)), package)


def assert_answers(content: bytes) -> None:
    result = decode(content)
    assert isinstance(result, Decoded | Packet | Rejection)
    if isinstance(result, Rejection):
        assert result.detail and isinstance(result.kind, RejectionKind)
    peek_header(content)  # must not raise either


@PROPERTY
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert_answers(data)
    for body_decoder in (decode_location, decode_batch):
        assert isinstance(body_decoder(data), LocationReport | LocationBatch | Rejection)
    for edition in (EDITION_2013, EDITION_2019):
        assert isinstance(m.decode_register(data, edition), m.Register | Rejection)
        assert isinstance(m.decode_authenticate(data, edition), m.Authenticate | Rejection)


@PROPERTY
@given(valid_frames(), st.data())
def test_mutated_frames_never_raise(frame: bytes, data: st.DataObject) -> None:
    content = bytearray(frame[1:-1])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if not content:
            break
        at = data.draw(st.integers(0, len(content) - 1))
        if op == "flip":
            content[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del content[at:]
        elif op == "insert":
            content[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del content[at]
    assert_answers(bytes(content))


@PROPERTY
@given(valid_frames(), st.data())
def test_mutated_bodies_with_a_valid_check_code_never_raise(frame: bytes, data: st.DataObject) -> None:
    """Re-sealing after the mutation gets the fault past the check code, into the header and
    body decoders."""
    raw = unescape(frame[1:-1])
    assert raw is not None
    content = bytearray(raw[:-1])
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, max(0, len(content) - 1)))
        if data.draw(st.booleans()):
            content[at:at + 1] = data.draw(st.binary(max_size=3))
        else:
            del content[at:]
    resealed = seal(bytes(content))[1:-1]
    result = decode(resealed)
    assert isinstance(result, Decoded | Packet | Rejection)
    if isinstance(result, Packet):
        assert isinstance(decode_message(result), Message | Rejection)
        assembler = SubpackageAssembler(max_bytes=4096)
        assert isinstance(assembler.add(result, 0.0), Packet | Rejection | type(None))


@PROPERTY
@given(st.lists(valid_frames() | st.binary(max_size=40), max_size=8), st.integers(1, 64))
def test_streams_split_and_decode_without_raising(parts: list[bytes], chunk: int) -> None:
    stream = b"".join(parts)
    splitter = FrameSplitter(max_frame_bytes=512)
    for i in range(0, len(stream), chunk):
        for item in splitter.feed(stream[i:i + chunk]):
            if isinstance(item, bytes):
                assert_answers(item)
            else:
                assert item.kind == RejectionKind.FRAME_TOO_LARGE


@PROPERTY
@given(valid_frames())
def test_valid_frames_decode(frame: bytes) -> None:
    result = decode(frame[1:-1])
    assert isinstance(result, Decoded | Packet | Rejection)
    if isinstance(result, Rejection):  # only impossible sub-package numbering is refused
        assert "sub-package" in result.detail or "authentication code is empty" in result.detail


@PROPERTY
@given(lats, lons, instants, st.floats(0, 6553.5), st.integers(0, 359))
def test_location_round_trip(lat: float, lon: float, ts: float, kmh: float, direction: int) -> None:
    r = decode_location(encode_location(lat, lon, ts, speed_kmh=kmh, direction_deg=direction))
    assert isinstance(r, LocationReport)
    assert abs(r.lat - lat) <= 5e-7 and abs(r.lon - lon) <= 5e-7
    assert r.ts == int(ts) and abs(r.speed_kmh - kmh) <= 0.05 + 1e-9 and r.direction_deg == direction
