"""JT/T 808 framing: 0x7E delimiters, the 0x7D escape, the XOR check code, and splitting a TCP
byte stream into frames.

Everything here is pure and byte-oriented.  The hot path (a location report every second from
every bus) avoids per-byte Python loops: escapes are handled with ``bytes.replace`` and the check
code is computed by folding the frame as one big integer, which costs a dozen integer operations
instead of one loop iteration per byte.
"""

from __future__ import annotations

from transit.core.rejection import Rejection, RejectionKind

FLAG = 0x7E
ESCAPE = 0x7D
_FLAG_B = b"\x7e"
_ESCAPE_B = b"\x7d"
_ESC_FLAG = b"\x7d\x02"
_ESC_ESC = b"\x7d\x01"

def _fold_plan(n_bytes: int) -> tuple[tuple[int, int], ...]:
    bits = 8
    while bits < n_bytes * 8:
        bits <<= 1
    steps = []
    shift = bits // 2
    while shift >= 8:
        steps.append((shift, (1 << shift) - 1))
        shift //= 2
    return tuple(steps)


#: Fold steps (shift, mask) by frame length, so a call does no setup arithmetic.
_PLANS = [_fold_plan(n) for n in range(4097)]
_M256, _M128, _M64, _M32, _M16, _M8 = ((1 << b) - 1 for b in (256, 128, 64, 32, 16, 8))


def xor_checksum(data: bytes | bytearray | memoryview) -> int:
    """XOR of every byte: the JT/T 808 check code over header and body."""
    n = len(data)
    x = int.from_bytes(data, "big")
    if 32 < n <= 64:  # most location frames: unrolled
        x = (x >> 256) ^ (x & _M256)
        x = (x >> 128) ^ (x & _M128)
        x = (x >> 64) ^ (x & _M64)
        x = (x >> 32) ^ (x & _M32)
        x = (x >> 16) ^ (x & _M16)
        return (x >> 8) ^ (x & _M8)
    for shift, mask in _PLANS[n] if n <= 4096 else _fold_plan(n):
        x = (x >> shift) ^ (x & mask)
    return x


def unescape(content: bytes) -> bytes | None:
    """Undo the escaping of a frame's content (between the delimiters).

    Returns None when a 0x7D is not followed by 0x01 or 0x02: such a frame was corrupted on the
    way and must not be guessed at.
    """
    if _ESCAPE_B not in content:
        return content
    escapes = content.count(_ESCAPE_B)
    if escapes != content.count(_ESC_ESC) + content.count(_ESC_FLAG):
        return None
    return content.replace(_ESC_FLAG, _FLAG_B).replace(_ESC_ESC, _ESCAPE_B)


def escape(content: bytes) -> bytes:
    if _ESCAPE_B in content:
        content = content.replace(_ESCAPE_B, _ESC_ESC)
    if _FLAG_B in content:
        content = content.replace(_FLAG_B, _ESC_FLAG)
    return content


def seal(content: bytes) -> bytes:
    """Header + body → a frame on the wire: check code appended, escaped, delimited."""
    return b"\x7e" + escape(content + bytes((xor_checksum(content),))) + b"\x7e"


class FrameSplitter:
    """Cuts a TCP byte stream into the escaped contents of frames.

    Frames are ``7E content 7E``; terminals send either ``7E a 7E 7E b 7E`` or share the flag
    between frames (``7E a 7E b 7E``), and both split the same way.  A frame in progress longer
    than ``max_frame_bytes`` is dropped up to the next flag and reported once as a rejection,
    so a terminal streaming garbage cannot make the buffer grow without bound.
    """

    __slots__ = ("_buf", "_discarding", "frames_seen", "max_frame_bytes", "oversized")

    def __init__(self, max_frame_bytes: int = 4096) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = b""
        self._discarding = False
        self.frames_seen = 0
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes | Rejection]:
        out: list[bytes | Rejection] = []
        last = data.rfind(_FLAG_B)
        if last < 0:
            if self._discarding:
                return out
            self._buf += data
            if len(self._buf) > self.max_frame_bytes:
                out.append(self._oversize(len(self._buf)))
                self._buf = b""
                self._discarding = True
            return out
        chunks = (self._buf + data[:last]).split(_FLAG_B) if self._buf else data[:last].split(_FLAG_B)
        if self._discarding:
            chunks = chunks[1:]  # the tail of the oversized frame
            self._discarding = False
        limit = self.max_frame_bytes
        for chunk in chunks:
            if chunk:
                if len(chunk) > limit:
                    out.append(self._oversize(len(chunk)))
                else:
                    self.frames_seen += 1
                    out.append(chunk)
        rest = data[last + 1:]
        if len(rest) > limit:
            out.append(self._oversize(len(rest)))
            self._buf = b""
            self._discarding = True
        else:
            self._buf = rest
        return out

    def _oversize(self, size: int) -> Rejection:
        self.oversized += 1
        return Rejection(
            self.frames_seen, RejectionKind.FRAME_TOO_LARGE,
            f"frame of more than {size} bytes exceeds jt808.max_frame_bytes={self.max_frame_bytes}; dropped",
        )

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)
