"""The JT/T 808 codec against the shared vectors (SmallChi/JT808 tests, ../shared/data/jt808).

Each test names the C# test it checks and asserts the values that test asserts; frames the
library built by serialising are compared byte for byte with what our encoders build.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.codec import Decoded, decode, decode_wire
from feeds.gps.jt808.framing import FrameSplitter, escape, seal, unescape, xor_checksum
from feeds.gps.jt808.location import (
    LocationBatch,
    LocationReport,
    decode_location,
    encode_batch,
    encode_items,
    encode_location,
    encode_report,
)
from feeds.gps.jt808.packet import (
    EDITION_2013,
    EDITION_2019,
    Header,
    Packet,
    decode_frame,
    encode_packet,
    parse_header,
    phone_to_bcd,
)
from feeds.gps.jt808.reassembly import SubpackageAssembler
from feeds.gps.jt808.terminal import Terminal, report_to_fix
from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind

GMT8 = dt.timezone(dt.timedelta(hours=8))
T_2018_07_15 = dt.datetime(2018, 7, 15, 10, 10, 10, tzinfo=GMT8).timestamp()


@pytest.fixture(scope="module")
def vectors(shared_data: Path) -> dict[str, list[bytes]]:
    """"File.cs/Test" → every hex string quoted in that test, in order."""
    text = (shared_data / "jt808" / "VECTORS_extracted.txt").read_text(encoding="utf-8")
    out: dict[str, list[bytes]] = {}
    current_file = current = ""
    for line in text.splitlines():
        if line.startswith("##### FILE "):
            current_file = line.split()[2].removeprefix("JT808").removesuffix("Test.cs").strip("_")
        elif line.startswith("=== "):
            current = f"{current_file}/{line[4:].strip()}"
            out.setdefault(current, [])
        elif not line.lstrip().startswith("//"):
            for found in re.findall(r'"([0-9A-Fa-f ]{6,})"', line):
                digits = found.replace(" ", "")
                if len(digits) % 2 == 0 and len(digits) >= 10 and not re.fullmatch(r"[01]+|\d{1,20}", digits):
                    out[current].append(bytes.fromhex(digits))
    return out


def decoded(frame: bytes, verify_checksum: bool = True) -> Decoded:
    result = decode_wire(frame, verify_checksum=verify_checksum)
    assert isinstance(result, Decoded), result
    return result


def lat_e6(x: float) -> int:
    return round(x * 1e6)


# --------------------------------------------------------------------------- framing


def test_escape_round_trip_and_check_code() -> None:
    raw = bytes([0x30, 0x7E, 0x08, 0x7D, 0x55])
    assert escape(raw) == bytes([0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55])
    assert unescape(escape(raw)) == raw
    assert unescape(b"\x7d\x01\x7d\x02") == b"\x7d\x7e"
    assert unescape(b"\x30\x7d\x03") is None
    assert unescape(b"\x30\x7d") is None
    for n in (1, 2, 7, 8, 9, 63, 64, 65, 1000):
        data = bytes((i * 37 + 11) % 256 for i in range(n))
        expected = 0
        for b in data:
            expected ^= b
        assert xor_checksum(data) == expected


def test_splitter_handles_shared_flags_split_reads_and_oversized_frames() -> None:
    a = seal(b"\x00\x02\x00\x00\x01\x23\x45\x67\x89\x00\x00\x0a")
    splitter = FrameSplitter(max_frame_bytes=64)
    stream = a + a + a[1:] + a  # 7E c 7E 7E c 7E c 7E (a shared flag) 7E c 7E
    got: list[bytes | Rejection] = []
    for i in range(0, len(stream), 5):
        got += splitter.feed(stream[i:i + 5])
    assert got == [a[1:-1]] * 4
    # A flood without a flag is cut off, reported once, and the next frame still comes through.
    out = splitter.feed(b"\x01" * 200)
    assert len(out) == 1 and isinstance(out[0], Rejection) and out[0].kind == RejectionKind.FRAME_TOO_LARGE
    assert splitter.feed(b"\x02" * 200) == []
    assert splitter.feed(b"\x7e" + a) == [a[1:-1]]
    assert splitter.pending_bytes == 0


# --------------------------------------------------------------------------- headers


def test_header_2013(vectors: dict[str, list[bytes]]) -> None:
    # HeaderTest.Test1 / Test1_2 / Test5_2: "01 02 00 05 01 38 12 34 56 78 00 87"
    (raw,) = vectors["Header/Test1_2"]
    h = parse_header(raw)
    assert isinstance(h, Header)
    assert (h.msg_id, h.serial, h.phone, h.body_length, h.package) == (0x0102, 135, "13812345678", 5, None)
    assert h.edition == EDITION_2013 and not h.version_flag
    built = encode_packet(0x0102, b"\x00" * 5, phone_to_bcd("13812345678", EDITION_2013), 135)
    assert built[1:13] == vectors["Header/Test1"][0]


def test_header_2019(vectors: dict[str, list[bytes]]) -> None:
    # HeaderTest.JT808Header_2019Test2: version flag, sub-package flag, RSA, length 255, version 2
    (raw,) = vectors["Header/JT808Header_2019Test2"]
    h = parse_header(raw)
    assert isinstance(h, Header)
    assert (h.msg_id, h.serial, h.phone, h.protocol_version) == (0x0102, 135, "13812345678", 2)
    assert h.edition == EDITION_2019 and h.version_flag
    assert h.body_length == 255 and h.encryption == 1 and h.package == (0, 0)
    # JT808Header_2019Test1 builds the same header bytes.
    built = encode_packet(0x0102, b"\x00" * 255, phone_to_bcd("13812345678", EDITION_2019), 135,
                          EDITION_2019, 2, package=(0, 0), encryption=1)
    assert (unescape(built[1:-1]) or b"")[:21] == vectors["Header/JT808Header_2019Test1"][0]


def test_an_encrypted_body_is_named_not_guessed() -> None:
    frame = encode_packet(0x0200, b"\x00" * 28, phone_to_bcd("1", EDITION_2013), 1, encryption=1)
    result = decode_wire(frame)
    assert isinstance(result, Rejection) and result.kind == RejectionKind.UNSUPPORTED
    assert "encrypted" in result.detail


# --------------------------------------------------------------------------- 0x0002 / 0x0001 / 0x8001 / 0x8100


def test_heartbeat(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0002/Test2"][0])
    assert (d.packet.header.msg_id, d.packet.header.serial, d.packet.header.phone) == (0x0002, 10, "12345678900")
    assert isinstance(d.message, m.Heartbeat) and d.packet.body == b""
    built = encode_packet(0x0002, b"", phone_to_bcd("12345678900", EDITION_2013), 10)
    assert built == vectors["0x0002/Test1"][0] == vectors["0x0002/Test4"][0]


def test_real_heartbeat_needs_the_7d02_escape(vectors: dict[str, list[bytes]]) -> None:
    # Test3, a real terminal: its check code is 0x7E and goes on the wire as 7D 02.
    frame = vectors["0x0002/Test3"][0]
    assert frame.endswith(b"\x7d\x02\x7e")
    d = decoded(frame)
    assert (d.packet.header.msg_id, d.packet.header.serial, d.packet.header.phone) == (0x0002, 43, "40021679287")
    assert isinstance(d.message, m.Heartbeat)
    assert encode_packet(0x0002, b"", d.packet.header.phone_bcd, 43) == frame


def test_terminal_general_response(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0001/Test2"][0])
    assert (d.packet.header.msg_id, d.packet.header.serial) == (0x0001, 1203)
    assert d.message == m.TerminalResponse(1000, 0x0002, 0)
    built = encode_packet(0x0001, m.encode_terminal_response(m.TerminalResponse(1000, 2, 0)),
                          phone_to_bcd("012345678900", EDITION_2013), 1203)
    assert built == vectors["0x0001/Test1"][0]


def test_platform_general_response_round_trip(vectors: dict[str, list[bytes]]) -> None:
    built = encode_packet(m.PLATFORM_RESPONSE, m.encode_platform_response(100, 0x0200, m.RESULT_OK),
                          phone_to_bcd("12345678900", EDITION_2013), 10)
    assert built == vectors["0x8001/Test1"][0] == vectors["0x8001/Test2"][0]
    packet = decode_frame(built[1:-1])
    assert isinstance(packet, Packet)
    assert (packet.header.msg_id, packet.header.serial, packet.header.phone) == (0x8001, 10, "12345678900")
    assert m.decode_platform_response(packet.body) == m.PlatformResponse(100, 0x0200, m.RESULT_OK)


@pytest.mark.parametrize(("built_test", "read_test", "result", "code"), [
    ("Test1", "Test2", m.REGISTER_OK, "123456"),
    ("Test3", "Test4", m.REGISTER_NO_TERMINAL, None),
    ("Test5", "Test6", m.REGISTER_OK, "zssdaf23124sfdsc"),
])
def test_register_response_round_trip(vectors: dict[str, list[bytes]], built_test: str, read_test: str,
                                      result: int, code: str | None) -> None:
    built = encode_packet(m.REGISTER_RESPONSE, m.encode_register_response(100, result, code),
                          phone_to_bcd("12345678900", EDITION_2013), 10)
    assert built == vectors[f"0x8100/{built_test}"][0]
    packet = decode_frame(vectors[f"0x8100/{read_test}"][0][1:-1])
    assert isinstance(packet, Packet) and packet.header.phone == "12345678900" and packet.header.serial == 10
    assert m.decode_register_response(packet.body) == m.RegisterResponse(100, result, code)


# --------------------------------------------------------------------------- 0x0100 register


@pytest.mark.parametrize(("test", "edition", "model"), [
    ("Test1_1", 2013, "smallchi123"), ("Test2011_2", 2011, "tk12345"), ("Test2019_2", 2019, "smallchi123"),
])
def test_register_in_each_edition(vectors: dict[str, list[bytes]], test: str, edition: int, model: str) -> None:
    d = decoded(vectors[f"0x0100/{test}"][0])
    assert (d.packet.header.msg_id, d.packet.header.serial, d.packet.header.phone) == (0x0100, 10, "123456789")
    assert d.packet.header.edition == (EDITION_2019 if edition == 2019 else EDITION_2013)
    assert d.packet.header.version_flag == (edition == 2019)
    if edition == 2019:
        assert d.packet.header.protocol_version == 1
    assert d.message == m.Register(40, 50, "1234", model, "CHI123", 1, "粤A12345", edition)


@pytest.mark.parametrize(("test", "edition"), [("Test1", 2013), ("Test2011_1", 2011), ("Test2019_1", 2019)])
def test_register_encodes_like_the_vectors(vectors: dict[str, list[bytes]], test: str, edition: int) -> None:
    model = "tk12345" if edition == 2011 else "smallchi123"
    reg = m.Register(40, 50, "1234", model, "CHI123", 1, "粤A12345", edition)
    header_edition = EDITION_2019 if edition == 2019 else EDITION_2013
    built = encode_packet(m.REGISTER, m.encode_register(reg), phone_to_bcd("123456789", header_edition), 10,
                          header_edition, 1)
    assert built == vectors[f"0x0100/{test}"][0]


def test_register_and_authenticate_padded_with_ascii_zeros(vectors: dict[str, list[bytes]]) -> None:
    # Test2019_3 and 0x0102 Test2019_3 (no asserted values): '0' padding is text, so it stays.
    reg = decoded(vectors["0x0100/Test2019_3"][0]).message
    assert isinstance(reg, m.Register) and reg.edition == 2019 and reg.plate == "粤A12345"
    assert (reg.maker_id.lstrip("0"), reg.model.lstrip("0"), reg.terminal_id.lstrip("0")) == \
        ("1234", "smallchi123", "CHI123")
    auth = m.decode_authenticate(vectors["0x0102/Test2019_3"][0], EDITION_2019)
    assert auth == m.Authenticate("45612", "1234567890abcde", "v2.0.0" + "0" * 14)


def test_register_2019_left_padding(vectors: dict[str, list[bytes]]) -> None:
    # Test2019_4_1: the 2019 layout's wider fields, padded after the text with 0x00.
    reg = m.Register(0, 0, "Koike002", "Koike002", "Koike002", 2, "粤A12346", 2019)
    built = encode_packet(m.REGISTER, m.encode_register(reg), phone_to_bcd("22222222222", EDITION_2019), 0,
                          EDITION_2019, 1)
    assert built == vectors["0x0100/Test2019_4_1"][0]
    assert decoded(built).message == reg
    # Test2019_4_2: a terminal padding with ASCII '0' instead; the source trims '0' to compare.
    d = decoded(vectors["0x0100/Test2019_4_2"][0])
    reg2 = d.message
    assert isinstance(reg2, m.Register)
    assert d.packet.header.phone == "22222222222" and d.packet.header.protocol_version == 1
    assert (reg2.province_id, reg2.city_id, reg2.plate_color, reg2.plate.strip()) == (0, 0, 2, "粤A12346")
    assert [x.lstrip("0") for x in (reg2.maker_id, reg2.model, reg2.terminal_id)] == ["Koike002"] * 3


# --------------------------------------------------------------------------- 0x0102 authenticate


def test_authenticate_2013(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0102/Test4"][0])
    assert (d.packet.header.msg_id, d.packet.header.serial, d.packet.header.phone) == (0x0102, 12345, "12345678900")
    assert d.message == m.Authenticate("456121111")
    built = encode_packet(m.AUTHENTICATE, m.encode_authenticate(m.Authenticate("456121111"), EDITION_2013),
                          phone_to_bcd("12345678900", EDITION_2013), 12345)
    assert built == vectors["0x0102/Test3"][0]


def test_authenticate_2019_body(vectors: dict[str, list[bytes]]) -> None:
    body = vectors["0x0102/Test2019_2"][0]
    assert m.decode_authenticate(body, EDITION_2019) == m.Authenticate("45612", "1234567890abcde", "v2.0.0")
    assert body[0] == 5  # CodeLength
    assert m.encode_authenticate(m.Authenticate("45612", "1234567890abcde", "v2.0.0"), EDITION_2019) \
        == vectors["0x0102/Test2019_1"][0]


def test_real_authenticate_with_a_stray_version_flag(vectors: dict[str, list[bytes]]) -> None:
    # 0x0200 Test5_3: a real terminal sets bit 14 but sends a 2013 header; the length decides.
    d = decoded(vectors["0x0200/Test5_3"][0])
    assert d.packet.header.version_flag and d.packet.header.edition == EDITION_2013
    assert d.packet.header.phone == "10030000681"
    assert d.message == m.Authenticate("J10030000681")


# --------------------------------------------------------------------------- 0x0200 location


def assert_basic(r: LocationReport, alarm: int = 1, status: int = 2, lat: int = 12222222,
                 lon: int = 132444444) -> None:
    assert r.alarm == alarm and r.status == status
    assert lat_e6(r.lat) == lat and lat_e6(r.lon) == lon
    assert r.ts == T_2018_07_15 and r.time_bcd == "180715101010"
    assert round(r.speed_kmh * 10) == 60 and r.altitude_m == 40 and r.direction_deg == 0


def test_location_body(vectors: dict[str, list[bytes]]) -> None:
    for test in ("Test2", "Test2_1", "Test6_1"):
        r = decode_location(vectors[f"0x0200/{test}"][0])
        assert isinstance(r, LocationReport)
        if test == "Test6_1":
            # No asserted values in the source; status 1002222 = 0xF4AEE has bits 2 and 3 set,
            # which the standard reads as south and west.
            assert_basic(r, alarm=300000, status=1002222, lat=-12222222, lon=-132444444)
        else:
            assert_basic(r)
        assert round(r.mileage_km * 10) == 100 and round(r.fuel_l * 10) == 55  # type: ignore[operator]
        assert r.problems == ()
        assert encode_report(r) == vectors[f"0x0200/{test}"][0]
    # Test1 builds the body; so does our encoder.
    assert encode_location(12.222222, 132.444444, T_2018_07_15, speed_kmh=6.0, altitude_m=40, alarm=1,
                           items=encode_items(mileage_km=10.0, fuel_l=5.5)) == vectors["0x0200/Test1"][0]


def test_location_with_a_custom_item(vectors: dict[str, list[bytes]]) -> None:
    # Test4: item 0x61 is SmallChi's custom one (age 18, gender 1, "smallchi"): kept raw.
    r = decode_location(vectors["0x0200/Test4"][0])
    assert isinstance(r, LocationReport)
    assert_basic(r)
    custom = dict(r.items)[0x61]
    assert custom == bytes.fromhex("0000001201") + b"smallchi"
    assert encode_report(r) == vectors["0x0200/Test3"][0]


def test_location_frame(vectors: dict[str, list[bytes]]) -> None:
    for test in ("Test5", "Test5_2"):
        d = decoded(vectors[f"0x0200/{test}"][0])
        h = d.packet.header
        assert (h.msg_id, h.body_length, h.serial, h.phone, h.package, h.encryption) == \
            (0x0200, 38, 8888, "112233445566", None, 0)
        assert isinstance(d.message, LocationReport)
        assert_basic(d.message)
        assert encode_packet(0x0200, encode_report(d.message), h.phone_bcd, h.serial) == vectors[f"0x0200/{test}"][0]


def test_location_all_additional_items(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0200/Test_all_attcahids"][0])
    r = d.message
    assert isinstance(r, LocationReport)
    assert_basic(r)
    assert round(r.recorder_speed_kmh * 10) == 56  # type: ignore[operator]
    assert r.signal_strength == 0x02 and r.satellites == 0x05
    assert [i for i, _ in r.items] == [0x01, 0x02, 0x03, 0x04, 0x11, 0x12, 0x13, 0x25, 0x2A, 0x2B, 0x30, 0x31]
    assert dict(r.items)[0x25] == (23).to_bytes(4, "big")  # CarSignalStatus
    assert dict(r.items)[0x2A] == (244).to_bytes(2, "big")  # IOStatus
    h = d.packet.header
    assert encode_packet(0x0200, encode_report(r), h.phone_bcd, h.serial) == vectors["0x0200/Test_all_attcahids"][0]


def test_location_bodies_built_by_the_source_round_trip(vectors: dict[str, list[bytes]]) -> None:
    for built, read in (("Test6", "Test6_1"), ("Test_JT808_0x0200_0x07_1", "Test_JT808_0x0200_0x07_2")):
        r = decode_location(vectors[f"0x0200/{read}"][0])
        assert isinstance(r, LocationReport)
        assert encode_report(r) == vectors[f"0x0200/{built}"][0]


def test_other_message_ids_are_unsupported_not_errors(vectors: dict[str, list[bytes]]) -> None:
    # 0x0200 Test2_13 is in fact a real 0x0104 (parameter query answer): answered with result 3.
    d = decoded(vectors["0x0200/Test2_13"][0])
    assert d.message == m.Unsupported(0x0104) and d.packet.header.body_length == 0x1B7


def test_location_2019_satellite_item(vectors: dict[str, list[bytes]]) -> None:
    r = decode_location(vectors["0x0200/Test_JT808_0x0200_0x07_2"][0])
    assert isinstance(r, LocationReport)
    assert r.time_bcd == "210528181010"
    (item,) = [v for i, v in r.items if i == 0x07]
    assert len(item) == 4 + (4 * 4 + 4 * 3 + 4 * 2 + 4)  # AttachInfoLength
    # BeiDou 4, GPS 3, GLONASS 2, Galileo 1 satellites: a count, then 4 bytes per satellite.
    assert (item[0], item[17], item[30], item[39]) == (4, 3, 2, 1)


@pytest.mark.parametrize(("test", "status", "lat", "lon"), [
    ("LatLngTest1_2", 0x18000000, -12222222, -132444444),
    ("LatLngTest2_2", 0x18000302, -12222222, -132444444),
    ("LatTest1_2", 0x10000000, -12222222, 132444444),
    ("LatTest3_2", 0b100, -12222222, 132444444),
    ("LngTest1_2", 0x8000000, 12222222, -132444444),
    ("LngTest3_2", 0x8006601, 12222222, -132444444),
    ("LatLngTest1_1", 0xC, -12222222, -132444444),
    ("LatTest1_1", 0x4, -12222222, 132444444),
    ("LngTest1_1", 0x8, 12222222, -132444444),
])
def test_southern_and_western_coordinates(vectors: dict[str, list[bytes]], test: str, status: int,
                                          lat: int, lon: int) -> None:
    r = decode_location(vectors[f"0x0200/{test}"][0])
    assert isinstance(r, LocationReport)
    assert r.alarm == 1 and r.status == status
    assert (lat_e6(r.lat), lat_e6(r.lon)) == (lat, lon)
    assert r.ts == T_2018_07_15 and round(r.speed_kmh * 10) == 60


def test_status_bits_give_the_sign_of_standard_magnitudes() -> None:
    body = encode_location(-36.5, -58.25, T_2018_07_15)
    assert body[4:8] == (0x02 | 0x04 | 0x08).to_bytes(4, "big")
    assert body[8:12] == (36500000).to_bytes(4, "big")  # a magnitude, not two's complement
    r = decode_location(body)
    assert isinstance(r, LocationReport) and (r.lat, r.lon) == (-36.5, -58.25)
    assert encode_report(r) == body


# --------------------------------------------------------------------------- 0x0704 batch


def test_batch(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0704/Test2"][0])
    assert (d.packet.header.serial, d.packet.header.phone) == (8888, "112233445566")
    batch = d.message
    assert isinstance(batch, LocationBatch)
    assert batch.declared_count == 2 and batch.batch_type == 0 and not batch.backlog and batch.rejections == ()
    (i0, a), (i1, b) = batch.reports
    assert (i0, i1) == (0, 1)
    assert_basic(a)
    assert round(a.mileage_km * 10) == 100 and round(a.fuel_l * 10) == 55  # type: ignore[operator]
    assert (b.alarm, b.status, lat_e6(b.lat), lat_e6(b.lon)) == (2, 1, 13333333, 132555555)
    assert round(b.speed_kmh * 10) == 54 and b.direction_deg == 120 and b.altitude_m == 41
    assert b.ts == T_2018_07_15 + 20
    assert round(b.mileage_km * 10) == 96 and round(b.fuel_l * 10) == 66  # type: ignore[operator]
    built = encode_packet(0x0704, encode_batch([encode_report(a), encode_report(b)]),
                          d.packet.header.phone_bcd, 8888)
    assert built == vectors["0x0704/Test1"][0]


def test_real_batch_with_one_malformed_position(vectors: dict[str, list[bytes]]) -> None:
    # Test4: a real backlog upload (phone anonymised, so the check code no longer matches) whose
    # second position is four bytes short.  The first position is kept, the second is named.
    frame = vectors["0x0704/Test4"][0]
    rejected = decode_wire(frame)
    assert isinstance(rejected, Rejection) and rejected.kind == RejectionKind.BAD_CHECKSUM
    d = decoded(frame, verify_checksum=False)
    batch = d.message
    assert isinstance(batch, LocationBatch)
    assert batch.batch_type == 1 and batch.backlog and batch.declared_count == 2
    ((index, r),) = batch.reports
    assert index == 0
    assert r.positioned and (round(r.lat, 6), round(r.lon, 6)) == (23.417058, 101.61476)  # Yunnan
    assert r.ts == dt.datetime(2020, 6, 3, 17, 28, 33, tzinfo=GMT8).timestamp()
    assert r.speed_kmh == 69.0 and r.direction_deg == 100 and r.altitude_m == 1380
    assert r.mileage_km == pytest.approx(34546.2)
    (bad,) = batch.rejections
    assert bad.index == 1 and bad.kind == RejectionKind.MALFORMED and "233 bytes" in bad.detail
    fix = report_to_fix(r, Terminal("11111111111", "bus-7", "鲁A·12345", "K301"), 1.6e9, live=False)
    assert isinstance(fix, Fix) and not fix.live and fix.odometer_m == pytest.approx(34546200.0)


# --------------------------------------------------------------------------- real terminal frames


def test_real_location_2013_with_stray_version_flag(vectors: dict[str, list[bytes]]) -> None:
    d = decoded(vectors["0x0200/Test5_4"][0])
    h = d.packet.header
    assert h.version_flag and h.edition == EDITION_2013 and h.phone == "10030000681"
    r = d.message
    assert isinstance(r, LocationReport)
    assert r.positioned and (r.lat, r.lon) == (40.670063, 122.4523)  # Liaoning
    assert r.ts == dt.datetime(2021, 6, 25, 15, 57, 39, tzinfo=GMT8).timestamp()
    assert r.speed_kmh == 86.7 and r.direction_deg == 215 and r.altitude_m == 4
    assert (r.signal_strength, r.satellites, r.mileage_km) == (21, 18, 0.0)
    assert r.problems == ()


@pytest.mark.parametrize(("test", "lat", "lon", "kmh", "positioned"), [
    ("Test7", 24.681268, 102.992634, 39.5, True),
    ("Test8", 32.910979, 118.783122, 0.0, False),
    ("Test_Device_AttachInfo1_1", 23.17585, 113.149088, 0.0, True),
    ("Test_Device_AttachInfo2_1", 23.63055, 108.877024, 43.4, True),
    ("Test_Device_AttachInfo3_1", 34.589156, 110.82982, 75.9, True),
    ("Test_Device_AttachInfo4_1", 41.75438, 123.280975, 80.1, True),
    ("Test_Device_AttachInfo5_1", 24.681268, 102.992634, 39.5, True),
])
def test_real_terminal_locations_are_plausible(vectors: dict[str, list[bytes]], test: str, lat: float,
                                               lon: float, kmh: float, positioned: bool) -> None:
    """Captures whose phones were anonymised: the check code is wrong as published (and so
    rejected), and read without it they give positions in China at bus speeds."""
    frame = vectors[f"0x0200/{test}"][0]
    rejected = decode_wire(frame)
    assert isinstance(rejected, Rejection) and rejected.kind == RejectionKind.BAD_CHECKSUM
    r = decoded(frame, verify_checksum=False).message
    assert isinstance(r, LocationReport)
    assert (r.lat, r.lon, r.speed_kmh, r.positioned) == (lat, lon, kmh, positioned)
    assert 18 < r.lat < 54 and 73 < r.lon < 135 and 0 <= r.direction_deg < 360
    assert dt.datetime(2010, 1, 1, tzinfo=GMT8).timestamp() < r.ts < dt.datetime(2026, 1, 1, tzinfo=GMT8).timestamp()
    assert r.signal_strength is not None and r.satellites is not None
    fix = report_to_fix(r, Terminal("11111111111", "bus-7"), r.ts + 1)
    if positioned:
        assert isinstance(fix, Fix) and fix.speed_mps == pytest.approx(kmh / 3.6)
    else:  # Test8's status has bit 1 clear: the terminal had no GNSS fix
        assert isinstance(fix, Rejection) and fix.kind == RejectionKind.INVALID_COORDINATES


def test_real_location_with_unknown_items(vectors: dict[str, list[bytes]]) -> None:
    # Test7: two items with id 0x00 and vendor items; every item is kept, the position is good.
    r = decoded(vectors["0x0200/Test7"][0], verify_checksum=False).message
    assert isinstance(r, LocationReport)
    assert [i for i, _ in r.items] == [0x01, 0x2B, 0x30, 0x31, 0x00, 0x00, 0xEB]
    assert (r.mileage_km, r.signal_strength, r.satellites) == (941.5, 23, 27)
    # Test8: the last vendor item runs past the body; SmallChi reports one bad item, so do we.
    r8 = decoded(vectors["0x0200/Test8"][0], verify_checksum=False).message
    assert isinstance(r8, LocationReport)
    assert r8.problems == ("item 0xF6 declares 4 bytes but 2 remain",)
    assert r8.mileage_km == pytest.approx(125189.2) and r8.satellites == 5


def test_real_2019_location(vectors: dict[str, list[bytes]]) -> None:
    # Test8_2 and Test_attcahid_0x2b are real frames with correct check codes.
    r = decoded(vectors["0x0200/Test8_2"][0]).message
    assert isinstance(r, LocationReport)
    assert (r.lat, r.lon) == (22.585732, 113.864672)  # Shenzhen
    assert r.ts == dt.datetime(2023, 12, 7, 9, 36, 52, tzinfo=GMT8).timestamp()
    assert r.satellites == 12 and r.signal_strength == 23
    r2 = decoded(vectors["0x0200/Test_attcahid_0x2b"][0]).message
    assert isinstance(r2, LocationReport) and (r2.lat, r2.lon) == (22.586314, 113.909015)


# --------------------------------------------------------------------------- sub-packages


def test_subpackages_reassemble(vectors: dict[str, list[bytes]]) -> None:
    first, second = vectors["HeaderPackage/Test1"]
    p1, p2 = decode_wire(first), decode_wire(second)
    assert isinstance(p1, Packet) and isinstance(p2, Packet)
    assert p1.header.package == (2, 1) and p2.header.package == (2, 2)
    assert (p1.header.body_length, p2.header.body_length) == (930, 56)
    assert (p1.header.serial, p2.header.serial) == (0xEB, 0xEC)
    assembler = SubpackageAssembler(timeout_s=60)
    assert assembler.add(p2, now=0.0) is None  # out of order is fine
    whole = assembler.add(p1, now=1.0)
    assert isinstance(whole, Packet)
    assert whole.body == p1.body + p2.body and len(whole.body) == 986
    assert whole.header.package is None and whole.header.msg_id == 0x1205
    assert assembler.statistics()["pending"] == 0


def test_subpackages_expire_naming_the_missing_ones() -> None:
    bcd = phone_to_bcd("13800000000", EDITION_2013)
    packets = []
    for i in (1, 3):
        result = decode(encode_packet(0x0704, bytes([i]) * 10, bcd, 100 + i - 1, package=(3, i))[1:-1])
        assert isinstance(result, Packet)
        packets.append(result)
    assembler = SubpackageAssembler(timeout_s=30)
    assert all(assembler.add(p, now=0.0) is None for p in packets)
    assert assembler.expire(now=10.0) == []
    (gone,) = assembler.expire(now=31.0)
    assert (gone.first_serial, gone.missing, gone.msg_id) == (100, (2,), 0x0704)
    assert m.encode_resend_request(gone.first_serial, list(gone.missing), EDITION_2013) == bytes.fromhex("0064010002")


def test_subpackage_limits() -> None:
    bcd = phone_to_bcd("13800000000", EDITION_2013)
    assembler = SubpackageAssembler(max_bytes=1500)
    p1 = decode(encode_packet(0x0704, b"\x01" * 1000, bcd, 1, package=(3, 1))[1:-1])
    p2 = decode(encode_packet(0x0704, b"\x02" * 1000, bcd, 2, package=(3, 2))[1:-1])
    assert isinstance(p1, Packet) and isinstance(p2, Packet)
    assert assembler.add(p1, 0.0) is None
    too_big = assembler.add(p2, 0.0)
    assert isinstance(too_big, Rejection) and too_big.kind == RejectionKind.FRAME_TOO_LARGE
    assert assembler.statistics()["pending_bytes"] == 0


# --------------------------------------------------------------------------- rejections, one per fault


def good_location_frame() -> bytes:
    return encode_packet(0x0200, encode_location(36.7, 117.5, T_2018_07_15),
                         phone_to_bcd("13800000000", EDITION_2013), 7)


def with_check_code(content: bytes) -> bytes:
    """Re-seal un-escaped content (header + body, no check code)."""
    return seal(content)


def test_each_fault_is_named() -> None:
    frame = good_location_frame()
    content = unescape(frame[1:-1])
    assert content is not None
    cases: dict[str, tuple[bytes, RejectionKind]] = {
        "check code": (frame[:-2] + bytes([frame[-2] ^ 0xFF]) + b"\x7e", RejectionKind.BAD_CHECKSUM),
        "truncated frame": (b"\x7e\x02\x00\x00\x7e", RejectionKind.MALFORMED),
        "bad escape": (b"\x7e" + frame[1:5] + b"\x7d\x05" + frame[5:], RejectionKind.MALFORMED),
        "longer than its header": (with_check_code(content[:-1] + b"\x00\x00"), RejectionKind.MALFORMED),
        "bad BCD in terminal phone": (with_check_code(content[:4] + b"\x1a" + content[5:-1]), RejectionKind.MALFORMED),
        "bad BCD time": (with_check_code(content[:12 + 22] + b"\x1f" + content[12 + 23:-1]), RejectionKind.MALFORMED),
        "impossible time": (with_check_code(content[:12 + 23] + b"\x13" + content[12 + 24:-1]), RejectionKind.MALFORMED),
        "truncated location body": (
            encode_packet(0x0200, b"\x00" * 20, phone_to_bcd("1", EDITION_2013), 1), RejectionKind.MALFORMED),
    }
    for words, (bad, kind) in cases.items():
        result = decode_wire(bad)
        assert isinstance(result, Rejection), words
        assert result.kind == kind, (words, result)
        assert words in result.detail, (words, result.detail)


def test_report_to_fix_carries_the_registry() -> None:
    r = decode_location(encode_location(36.71, 117.54, T_2018_07_15, speed_kmh=36.0, direction_deg=359,
                                        items=encode_items(mileage_km=1234.5)))
    assert isinstance(r, LocationReport)
    fix = report_to_fix(r, Terminal("13800000000", "ZQ-0101", "鲁A·12345", "K301"), T_2018_07_15 + 2)
    assert fix == Fix(vehicle_id="ZQ-0101", ts=T_2018_07_15, lat=36.71, lon=117.54, speed_mps=10.0,
                      bearing_deg=359.0, route_id="K301", label="鲁A·12345", odometer_m=1234500.0,
                      source="jt808", live=True, received_ts=T_2018_07_15 + 2)
    assert fix.trip_id is None  # JT/T 808 carries no trip: the tracker infers it


#: Real captures published with anonymised phones, so with check codes that no longer match.
ANONYMISED = {"0x0200/Test7", "0x0200/Test8", "0x0200/Test8_1", "0x0704/Test4", "0x0704/Test4_1"} | {
    f"0x0200/Test_Device_AttachInfo{i}_{j}" for i in range(1, 6) for j in (1, 2)}


def test_every_vector_decodes(vectors: dict[str, list[bytes]]) -> None:
    """Sweep: every frame in the file decodes (sub-packages to packets), or is an anonymised
    capture rejected for its check code and decodable without it; every bare body decodes."""
    frames = bodies = 0
    for name, found in vectors.items():
        for raw in found:
            if raw[:1] == b"\x7e" and raw[-1:] == b"\x7e":
                frames += 1
                result = decode_wire(raw)
                if name in ANONYMISED:
                    assert isinstance(result, Rejection) and result.kind == RejectionKind.BAD_CHECKSUM, name
                    result = decode_wire(raw, verify_checksum=False)
                assert isinstance(result, Decoded | Packet), (name, result)
            elif name.startswith(("0x0200/", "0x0102/", "Header/")):
                bodies += 1
                if name.startswith("0x0200/"):
                    assert isinstance(decode_location(raw), LocationReport), name
                elif name.startswith("0x0102/"):
                    assert isinstance(m.decode_authenticate(raw, EDITION_2019), m.Authenticate), name
                else:
                    assert isinstance(parse_header(raw), Header), name
    assert frames >= 60 and bodies >= 20
