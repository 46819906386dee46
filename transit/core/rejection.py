"""Rejections are values (the OpenTripPlanner habit): a bad input becomes a Rejection with a kind,
counted per kind and source in /metrics and returned to the sender, while good data beside it
is kept."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectionKind(StrEnum):
    # Decoding
    MALFORMED = "malformed"  # body, frame, row or message could not be decoded
    MISSING_FIELD = "missing_field"
    BAD_CHECKSUM = "bad_checksum"
    FRAME_TOO_LARGE = "frame_too_large"
    UNSUPPORTED = "unsupported"  # decodable but of a kind we do not take
    # Validation of a fix
    INVALID_COORDINATES = "invalid_coordinates"
    NULL_ISLAND = "null_island"  # (0, 0)
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    DUPLICATE = "duplicate"
    NOT_AUTHENTICATED = "not_authenticated"
    # Capacity
    BUFFER_FULL = "buffer_full"
    # References into the schedule
    UNKNOWN_STOP = "unknown_stop"
    UNKNOWN_ROUTE = "unknown_route"
    UNKNOWN_TRIP = "unknown_trip"
    BAD_VALUE = "bad_value"


@dataclass(frozen=True, slots=True)
class Rejection:
    """``index`` is the position in the batch (or the 1-based line of a file); ``detail`` names
    what was wrong in words an operator understands."""

    index: int
    kind: RejectionKind
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "kind": str(self.kind), "detail": self.detail}
