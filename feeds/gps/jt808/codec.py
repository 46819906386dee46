"""From a frame to a typed message: the one entry point the server and the tests decode through.

``decode`` never raises for any input bytes; every fault becomes a
:class:`~transit.core.rejection.Rejection` whose detail names it (bad checksum, truncated body,
bad BCD, bad escape, RSA-encrypted body, ...).  Sub-packages come back as bare packets: joining
them needs state across frames, which :class:`~feeds.gps.jt808.reassembly.SubpackageAssembler`
keeps.
"""

from __future__ import annotations

from typing import NamedTuple

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.location import LocationBatch, LocationReport, decode_batch, decode_location
from feeds.gps.jt808.packet import ENCRYPTION_NONE, Packet, decode_frame
from transit.core.rejection import Rejection, RejectionKind

Message = (
    m.TerminalResponse | m.Heartbeat | m.Logout | m.Register | m.Authenticate | LocationReport
    | LocationBatch | m.Unsupported
)

_HEARTBEAT = m.Heartbeat()
_LOGOUT = m.Logout()


class Decoded(NamedTuple):
    packet: Packet
    message: Message


def decode_message(packet: Packet, index: int = 0) -> Message | Rejection:
    """The body of a complete (not sub-packaged, or re-assembled) packet → message."""
    header = packet.header
    msg_id = header.msg_id
    body = packet.body
    if header.encryption != ENCRYPTION_NONE:
        return Rejection(index, RejectionKind.UNSUPPORTED,
                         f"message 0x{msg_id:04X} has an encrypted body (method {header.encryption}); "
                         "encryption is not supported")
    if msg_id == m.LOCATION:
        return decode_location(body, index)
    if msg_id == m.HEARTBEAT:
        return _HEARTBEAT
    if msg_id == m.BATCH:
        return decode_batch(body, index)
    if msg_id == m.TERMINAL_RESPONSE:
        return m.decode_terminal_response(body, index)
    if msg_id == m.AUTHENTICATE:
        return m.decode_authenticate(body, header.edition, index)
    if msg_id == m.REGISTER:
        return m.decode_register(body, header.edition, index)
    if msg_id == m.LOGOUT:
        return _LOGOUT
    return m.Unsupported(msg_id)


def decode(content: bytes, index: int = 0, verify_checksum: bool = True) -> Decoded | Packet | Rejection:
    """Escaped frame content → decoded message; a sub-package → its packet; else a rejection."""
    packet = decode_frame(content, index, verify_checksum)
    if isinstance(packet, Rejection):
        return packet
    if packet.header.package is not None:
        return packet
    message = decode_message(packet, index)
    if isinstance(message, Rejection):
        return message
    return Decoded(packet, message)


def decode_wire(frame: bytes, index: int = 0, verify_checksum: bool = True) -> Decoded | Packet | Rejection:
    """A whole frame with its 0x7E flags (as in the test vectors) → :func:`decode`."""
    if len(frame) < 2 or frame[0] != 0x7E or frame[-1] != 0x7E:
        return Rejection(index, RejectionKind.MALFORMED, "a frame must start and end with 0x7E")
    return decode(frame[1:-1], index, verify_checksum)
