"""A JT/T 808 terminal in software: what the tests, the benchmark and the demo drive the server
with.  It builds its frames with the same encoders the vectors check, keeps its own flow serial
number, and matches each platform answer to the message it answers by serial number.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.framing import FrameSplitter
from feeds.gps.jt808.location import encode_batch, encode_items, encode_location
from feeds.gps.jt808.packet import EDITION_2013, Header, Packet, decode_frame, encode_packet, phone_to_bcd
from transit.core.rejection import Rejection


@dataclass(frozen=True, slots=True)
class Answer:
    """A message from the platform, decoded."""

    header: Header
    body: bytes
    response: m.PlatformResponse | m.RegisterResponse | None


def decode_answer(content: bytes) -> Answer | Rejection:
    packet = decode_frame(content)
    if isinstance(packet, Rejection):
        return packet
    return _answer(packet)


def _answer(packet: Packet) -> Answer:
    header = packet.header
    response: m.PlatformResponse | m.RegisterResponse | Rejection | None = None
    if header.msg_id == m.PLATFORM_RESPONSE:
        response = m.decode_platform_response(packet.body)
    elif header.msg_id == m.REGISTER_RESPONSE:
        response = m.decode_register_response(packet.body)
    return Answer(header, packet.body, None if isinstance(response, Rejection) else response)


class SimulatedTerminal:
    def __init__(self, phone: str, edition: int = EDITION_2013, protocol_version: int = 1,
                 timeout_s: float = 5.0, keep_raw: int = 1000) -> None:
        self.phone = phone
        #: Longest wait for an answer from the platform.
        self.timeout_s = timeout_s
        self.edition = edition
        self.protocol_version = protocol_version
        self.phone_bcd = phone_to_bcd(phone, edition)
        self.serial = 0
        self.auth_code: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._splitter = FrameSplitter(1 << 20)
        self._answers: list[Answer] = []
        #: The last ``keep_raw`` frames received, flags included (a long-lived terminal keeps few).
        self.raw_received: collections.deque[bytes] = collections.deque(maxlen=keep_raw)

    async def connect(self, host: str, port: int) -> None:
        """Open a connection; a terminal that reconnects keeps its serial number and its code,
        and nothing half-read from the old connection."""
        self._splitter = FrameSplitter(1 << 20)
        self._answers.clear()
        self._reader, self._writer = await asyncio.open_connection(host, port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    def frame(self, msg_id: int, body: bytes = b"", package: tuple[int, int] | None = None) -> tuple[bytes, int]:
        """The next frame this terminal would send, and its serial number."""
        serial = self.serial
        self.serial = (serial + 1) & 0xFFFF
        data = encode_packet(msg_id, body, self.phone_bcd, serial, self.edition, self.protocol_version, package)
        return data, serial

    async def send_raw(self, data: bytes) -> None:
        assert self._writer is not None, "connect first"
        self._writer.write(data)
        await self._writer.drain()

    async def send(self, msg_id: int, body: bytes = b"") -> int:
        data, serial = self.frame(msg_id, body)
        await self.send_raw(data)
        return serial

    async def receive(self) -> Answer:
        """The next platform message (any kind)."""
        assert self._reader is not None, "connect first"
        async with asyncio.timeout(self.timeout_s):
            while not self._answers:
                data = await self._reader.read(65536)
                if not data:
                    raise ConnectionError("the platform closed the connection")
                for item in self._splitter.feed(data):
                    if isinstance(item, bytes):
                        self.raw_received.append(b"\x7e" + item + b"\x7e")
                        answer = decode_answer(item)
                        if isinstance(answer, Answer):
                            self._answers.append(answer)
            return self._answers.pop(0)

    async def answer_to(self, serial: int) -> Answer:
        """Wait for the answer to our message ``serial`` (other messages are kept for later)."""
        skipped: list[Answer] = []
        try:
            while True:
                answer = await self.receive()
                response = answer.response
                if response is not None and response.reply_serial == serial:
                    return answer
                skipped.append(answer)
        finally:
            self._answers[:0] = skipped

    async def request(self, msg_id: int, body: bytes = b"") -> Answer:
        serial = await self.send(msg_id, body)
        return await self.answer_to(serial)

    async def register(self, plate: str = "鲁A12345", plate_color: int = 1, edition: int | None = None) -> Answer:
        layout = edition or (2019 if self.edition == 2019 else 2013)
        reg = m.Register(37, 181, "ZQBUS", "ZQ-T1", "T" + self.phone[-6:], plate_color, plate, layout)
        answer = await self.request(m.REGISTER, m.encode_register(reg))
        if isinstance(answer.response, m.RegisterResponse) and answer.response.code:
            self.auth_code = answer.response.code
        return answer

    async def authenticate(self, code: str | None = None) -> Answer:
        auth = m.Authenticate(code or self.auth_code or "", "868120300000000", "ZQ-1.0")
        return await self.request(m.AUTHENTICATE, m.encode_authenticate(auth, self.edition))

    async def heartbeat(self) -> Answer:
        return await self.request(m.HEARTBEAT)

    async def report(self, lat: float, lon: float, ts: float, speed_kmh: float = 20.0,
                     direction_deg: int = 90, mileage_km: float | None = None) -> Answer:
        body = encode_location(lat, lon, ts, speed_kmh=speed_kmh, direction_deg=direction_deg,
                               items=encode_items(mileage_km=mileage_km, signal_strength=25, satellites=12))
        return await self.request(m.LOCATION, body)

    async def batch(self, positions: list[tuple[float, float, float]], backlog: bool = True) -> Answer:
        bodies = [encode_location(lat, lon, ts, speed_kmh=15.0) for lat, lon, ts in positions]
        return await self.request(m.BATCH, encode_batch(bodies, 1 if backlog else 0))
