"""Re-assembly of sub-packaged messages (properties bit 13): a long 0x0704 backlog upload arrives
as several frames, each with (total, index) and its own serial number.

The sub-packages of one message have consecutive serial numbers, so ``serial - index + 1`` (the
serial of package 1) together with phone, message id and total identifies the message even when
other messages are interleaved.  The assembler is pure: it takes ``now`` and holds bounded state
(message count and bytes), so a terminal cannot exhaust memory with packages that never finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feeds.gps.jt808.packet import Packet
from transit.core.rejection import Rejection, RejectionKind

Key = tuple[str, int, int, int]  # phone, msg_id, total, serial of package 1


@dataclass
class _Pending:
    first_packet: Packet
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A message given up on: what a 0x8003 re-send request would ask for."""

    phone: str
    msg_id: int
    first_serial: int
    missing: tuple[int, ...]
    packet: Packet


class SubpackageAssembler:
    def __init__(self, timeout_s: float = 60.0, max_messages: int = 16, max_bytes: int = 256 * 1024) -> None:
        self.timeout_s = timeout_s
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._pending: dict[Key, _Pending] = {}
        self._bytes = 0
        self.completed = 0
        self.expired = 0

    def add(self, packet: Packet, now: float, index: int = 0) -> Packet | Rejection | None:
        """Keep one sub-package.  Returns the whole message once its last package is in (with the
        serial of the package that completed it, which is the one to acknowledge), None while
        packages are missing, or a rejection when the limits are exceeded."""
        header = packet.header
        if header.package is None:
            return packet  # already whole
        total, number = header.package
        key = (header.phone, header.msg_id, total, (header.serial - number + 1) & 0xFFFF)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_messages:
                return Rejection(index, RejectionKind.BUFFER_FULL,
                                 f"more than {self.max_messages} sub-packaged messages in progress")
            pending = self._pending[key] = _Pending(packet, now)
        if number in pending.parts:  # a retransmission
            return None
        if self._bytes + len(packet.body) > self.max_bytes:
            self._drop(key)
            return Rejection(index, RejectionKind.FRAME_TOO_LARGE,
                             f"sub-packaged message 0x{header.msg_id:04X} exceeds {self.max_bytes} bytes "
                             "in progress; dropped")
        pending.parts[number] = packet.body
        pending.size += len(packet.body)
        self._bytes += len(packet.body)
        if len(pending.parts) < total:
            return None
        self._drop(key)
        self.completed += 1
        body = b"".join(pending.parts[i] for i in range(1, total + 1))
        whole = header._replace(package=None, body_length=len(body))
        return Packet(whole, body)

    def expire(self, now: float) -> list[Incomplete]:
        """Give up on messages older than the timeout; say which packages never came."""
        out: list[Incomplete] = []
        for key, pending in list(self._pending.items()):
            if now - pending.started >= self.timeout_s:
                phone, msg_id, total, first = key
                missing = tuple(i for i in range(1, total + 1) if i not in pending.parts)
                out.append(Incomplete(phone, msg_id, first, missing, pending.first_packet))
                self._drop(key)
                self.expired += 1
        return out

    def _drop(self, key: Key) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._bytes -= pending.size

    def statistics(self) -> dict[str, int]:
        return {"pending": len(self._pending), "pending_bytes": self._bytes,
                "completed": self.completed, "expired": self.expired}
