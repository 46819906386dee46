"""Location report bodies: 0x0200 (one position) and 0x0704 (a batch of them).

The 28-byte basic block is alarm DWORD, status DWORD, latitude and longitude DWORD in 1e-6
degrees, altitude WORD (m), speed WORD (0.1 km/h), direction WORD (degrees) and time BCD[6]
(YYMMDDhhmmss, GMT+8).  Status bit 1 says whether the terminal has a GNSS fix, bit 2 south and
bit 3 west.  Some terminals (and the SmallChi codec behind the shared vectors) write a negative
coordinate in two's complement instead; a value with the top bit set can only mean that, since a
magnitude above 2^31 micro-degrees is impossible, so it is read as negative too.

Additional items follow as id BYTE, length BYTE, value.  A broken item (wrong length for its id,
or running past the body) does not lose the position: the basic block is good, and the problem is
kept in ``problems`` for the log.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from transit.core.rejection import Rejection, RejectionKind

GMT8_S = 8 * 3600

ITEM_MILEAGE = 0x01  # DWORD, 0.1 km
ITEM_FUEL = 0x02  # WORD, 0.1 L
ITEM_RECORDER_SPEED = 0x03  # WORD, 0.1 km/h, from the tachograph
ITEM_SIGNAL = 0x30  # BYTE, wireless signal strength
ITEM_SATELLITES = 0x31  # BYTE, GNSS satellites in view

STATUS_ACC = 0x01
STATUS_POSITIONED = 0x02
STATUS_SOUTH = 0x04
STATUS_WEST = 0x08

BATCH_NORMAL = 0
BATCH_BACKLOG = 1  # 补报: positions stored by the terminal during a coverage gap

_BASIC = struct.Struct(">IIIIHHH")
_BATCH_HEAD = struct.Struct(">HB")
_ITEM_SIZES = {ITEM_MILEAGE: 4, ITEM_FUEL: 2, ITEM_RECORDER_SPEED: 2, ITEM_SIGNAL: 1, ITEM_SATELLITES: 1}

#: Byte → its two BCD digits as a number, or -1 when a nibble is above 9.
_BCD = [((b >> 4) * 10 + (b & 0x0F)) if (b >> 4) < 10 and (b & 0x0F) < 10 else -1 for b in range(256)]


class LocationReport(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass because one is built per report on
    the hot path, and it constructs several times faster."""

    alarm: int
    status: int
    lat: float  # degrees, south negative
    lon: float  # degrees, west negative
    altitude_m: int
    speed_kmh: float
    direction_deg: int
    ts: float  # POSIX seconds of the GNSS time
    #: The time as sent, "YYMMDDhhmmss" in GMT+8.
    time_bcd: str
    #: Every additional item as (id, raw value), in the order sent.
    items: tuple[tuple[int, bytes], ...] = ()
    mileage_km: float | None = None
    fuel_l: float | None = None
    recorder_speed_kmh: float | None = None
    signal_strength: int | None = None
    satellites: int | None = None
    #: Additional items that could not be read; the basic position is still good.
    problems: tuple[str, ...] = ()

    @property
    def positioned(self) -> bool:
        return bool(self.status & STATUS_POSITIONED)

    @property
    def speed_mps(self) -> float:
        return self.speed_kmh / 3.6


@dataclass(frozen=True, slots=True)
class LocationBatch:
    batch_type: int
    #: (index in the batch, report) for every position that decoded.
    reports: tuple[tuple[int, LocationReport], ...]
    #: Positions that did not decode; ``index`` is their place in the batch.
    rejections: tuple[Rejection, ...] = field(default=())
    declared_count: int = 0

    @property
    def backlog(self) -> bool:
        return self.batch_type != BATCH_NORMAL


@functools.lru_cache(maxsize=4096)
def _day_start(yy: int, mm: int, dd: int) -> float | None:
    """POSIX seconds of 00:00 GMT+8 on 20yy-mm-dd, or None for a date that does not exist."""
    try:
        ordinal = date(2000 + yy, mm, dd).toordinal()
    except ValueError:
        return None
    return (ordinal - 719163) * 86400.0 - GMT8_S  # 719163 = date(1970, 1, 1).toordinal()


def ts_to_bcd_time(ts: float) -> bytes:
    t = int(ts) + GMT8_S
    days, rest = divmod(t, 86400)
    d = date.fromordinal(days + 719163)
    hh, rest = divmod(rest, 3600)
    mi, ss = divmod(rest, 60)
    if not 2000 <= d.year <= 2099:
        raise ValueError(f"{d.year} cannot be written as a JT/T 808 BCD time")
    return bytes.fromhex(f"{d.year % 100:02d}{d.month:02d}{d.day:02d}{hh:02d}{mi:02d}{ss:02d}")


def decode_location(body: bytes, index: int = 0) -> LocationReport | Rejection:
    """A 0x0200 body (also each position of 0x0704) → report, or a rejection naming the fault."""
    if len(body) < 28:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated location body: {len(body)} bytes, the basic block needs 28")
    alarm, status, lat_raw, lon_raw, altitude, speed, direction = _BASIC.unpack_from(body, 0)
    yy, mo, dd, hh, mi, ss = _BCD[body[22]], _BCD[body[23]], _BCD[body[24]], _BCD[body[25]], \
        _BCD[body[26]], _BCD[body[27]]
    if yy < 0 or mo < 0 or dd < 0 or hh < 0 or mi < 0 or ss < 0:
        return Rejection(index, RejectionKind.MALFORMED, f"bad BCD time {body[22:28].hex().upper()}")
    day = _day_start(yy, mo, dd)
    if day is None or hh > 23 or mi > 59 or ss > 59:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"impossible time {body[22:28].hex().upper()} (YYMMDDhhmmss, GMT+8)")
    ts = day + hh * 3600 + mi * 60 + ss
    if lat_raw & 0x80000000:
        lat = -((1 << 32) - lat_raw) / 1e6
    else:
        lat = -lat_raw / 1e6 if status & STATUS_SOUTH else lat_raw / 1e6
    if lon_raw & 0x80000000:
        lon = -((1 << 32) - lon_raw) / 1e6
    else:
        lon = -lon_raw / 1e6 if status & STATUS_WEST else lon_raw / 1e6
    items: list[tuple[int, bytes]] = []
    mileage = fuel = rec_speed = None
    signal = sats = None
    problems: list[str] = []
    n = len(body)
    i = 28
    while i < n:
        if i + 2 > n:
            problems.append(f"additional item header cut off at byte {i}")
            break
        item_id = body[i]
        size = body[i + 1]
        end = i + 2 + size
        if end > n:
            problems.append(f"item 0x{item_id:02X} declares {size} bytes but {n - i - 2} remain")
            break
        value = body[i + 2:end]
        items.append((item_id, value))
        expected = _ITEM_SIZES.get(item_id)
        if expected is not None:
            if size != expected:
                problems.append(f"item 0x{item_id:02X} has {size} bytes, expected {expected}")
            elif item_id == ITEM_MILEAGE:
                mileage = int.from_bytes(value, "big") / 10
            elif item_id == ITEM_FUEL:
                fuel = int.from_bytes(value, "big") / 10
            elif item_id == ITEM_RECORDER_SPEED:
                rec_speed = int.from_bytes(value, "big") / 10
            elif item_id == ITEM_SIGNAL:
                signal = value[0]
            else:
                sats = value[0]
        i = end
    return LocationReport(
        alarm, status, lat, lon, altitude, speed / 10, direction, ts, body[22:28].hex(),
        tuple(items), mileage, fuel, rec_speed, signal, sats, tuple(problems),
    )


def decode_batch(body: bytes, index: int = 0) -> LocationBatch | Rejection:
    """A 0x0704 body: count WORD, type BYTE, then per position a length WORD and a 0x0200 body.

    One bad position does not lose the others: it becomes a rejection with its place in the batch
    while the positions around it are kept.
    """
    if len(body) < 3:
        return Rejection(index, RejectionKind.MALFORMED,
                         f"truncated batch body: {len(body)} bytes, count and type need 3")
    count, batch_type = _BATCH_HEAD.unpack_from(body, 0)
    reports: list[tuple[int, LocationReport]] = []
    rejections: list[Rejection] = []
    n = len(body)
    i = 3
    for k in range(count):
        if i + 2 > n:
            rejections.append(Rejection(k, RejectionKind.MALFORMED,
                                        f"batch declares {count} positions but the body ends after {k}"))
            break
        size = int.from_bytes(body[i:i + 2], "big")
        end = i + 2 + size
        if end > n:
            rejections.append(Rejection(k, RejectionKind.MALFORMED,
                                        f"position {k} declares {size} bytes but {n - i - 2} remain"))
            break
        report = decode_location(body[i + 2:end], k)
        if isinstance(report, Rejection):
            rejections.append(report)
        else:
            reports.append((k, report))
        i = end
    if i < n and not rejections:
        rejections.append(Rejection(count, RejectionKind.MALFORMED,
                                    f"{n - i} bytes after the {count} declared positions"))
    return LocationBatch(batch_type, tuple(reports), tuple(rejections), count)


def encode_items(
    mileage_km: float | None = None, fuel_l: float | None = None, recorder_speed_kmh: float | None = None,
    signal_strength: int | None = None, satellites: int | None = None,
) -> tuple[tuple[int, bytes], ...]:
    items: list[tuple[int, bytes]] = []
    if mileage_km is not None:
        items.append((ITEM_MILEAGE, round(mileage_km * 10).to_bytes(4, "big")))
    if fuel_l is not None:
        items.append((ITEM_FUEL, round(fuel_l * 10).to_bytes(2, "big")))
    if recorder_speed_kmh is not None:
        items.append((ITEM_RECORDER_SPEED, round(recorder_speed_kmh * 10).to_bytes(2, "big")))
    if signal_strength is not None:
        items.append((ITEM_SIGNAL, bytes((signal_strength,))))
    if satellites is not None:
        items.append((ITEM_SATELLITES, bytes((satellites,))))
    return tuple(items)


def encode_location(
    lat: float, lon: float, ts: float, *, speed_kmh: float = 0.0, direction_deg: int = 0,
    altitude_m: int = 0, alarm: int = 0, status: int = STATUS_POSITIONED,
    items: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """A 0x0200 body in the standard form: magnitudes with the south/west status bits."""
    if lat < 0:
        status |= STATUS_SOUTH
    if lon < 0:
        status |= STATUS_WEST
    out = bytearray(_BASIC.pack(
        alarm, status, round(abs(lat) * 1e6), round(abs(lon) * 1e6), altitude_m,
        round(speed_kmh * 10), direction_deg,
    ))
    out += ts_to_bcd_time(ts)
    for item_id, value in items:
        out.append(item_id)
        out.append(len(value))
        out += value
    return bytes(out)


def encode_report(report: LocationReport) -> bytes:
    """Re-encode a decoded report (items kept byte for byte)."""
    status = report.status & ~(STATUS_SOUTH | STATUS_WEST)
    if report.status & STATUS_SOUTH and report.lat == 0:
        status |= STATUS_SOUTH
    if report.status & STATUS_WEST and report.lon == 0:
        status |= STATUS_WEST
    body = bytearray(_BASIC.pack(
        report.alarm, status | (STATUS_SOUTH if report.lat < 0 else 0) | (STATUS_WEST if report.lon < 0 else 0),
        round(abs(report.lat) * 1e6), round(abs(report.lon) * 1e6), report.altitude_m,
        round(report.speed_kmh * 10), report.direction_deg,
    ))
    body += bytes.fromhex(report.time_bcd)
    for item_id, value in report.items:
        body.append(item_id)
        body.append(len(value))
        body += value
    return bytes(body)


def encode_batch(bodies: Iterable[bytes], batch_type: int = BATCH_NORMAL) -> bytes:
    parts = list(bodies)
    out = bytearray(_BATCH_HEAD.pack(len(parts), batch_type))
    for body in parts:
        out += len(body).to_bytes(2, "big")
        out += body
    return bytes(out)
