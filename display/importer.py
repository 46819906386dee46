"""Importing a board CSV into the registry: good rows saved, bad rows reported by line."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from display.board_csv import decode_csv, parse_board_csv
from display.registry import SavedBoard, save_boards
from transit.core.rejection import Rejection, RejectionKind
from transit.schedule.index import ScheduleIndex


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    saved: tuple[SavedBoard, ...]
    rejections: tuple[Rejection, ...]
    #: Stops and routes could not be checked: no GTFS feed is loaded.
    unchecked: bool

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "created": [s.board_id for s in self.saved if s.created],
            "updated": [s.board_id for s in self.saved if not s.created],
            "generated_keys": {s.board_id: s.generated_key for s in self.saved if s.generated_key},
            "rejections": [r.as_json() for r in self.rejections],
            "references_checked": not self.unchecked,
        }


async def import_boards(pool: asyncpg.Pool, data: bytes | str, index: ScheduleIndex | None,
                        now: float) -> ImportReport:
    """Parse ``data`` (CSV) and save every good row in one transaction."""
    try:
        text = decode_csv(data) if isinstance(data, bytes) else data
    except ValueError as exc:
        return ImportReport(0, (), (Rejection(1, RejectionKind.MALFORMED, str(exc)),), index is None)
    parsed = parse_board_csv(text, index.stop_pos if index is not None else None,
                             index.route_pos if index is not None else None)
    saved = await save_boards(pool, [spec for _, spec in parsed.specs], now) if parsed.specs else []
    return ImportReport(parsed.rows, tuple(saved), parsed.rejections, index is None)
