"""The board import CSV: header check, then row by row, each bad row a rejection with its line.

Header (in any order): ``board_id,stop_ids,route_ids,rows,cols,encoding,languages,key,
poll_interval_s,location``, optionally followed by ``paging``, ``delivery`` (poll, mqtt or both),
``frame_format`` (json or raw) and ``message_mode`` (row or page).  ``stop_ids`` and
``route_ids`` are separated by ``;``; an empty ``route_ids`` means every line at the stops.

Pure: returns the good specs and the rejections; storing them is :mod:`display.registry`'s job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass

from display.board_spec import FIELDS, REQUIRED, BoardSpec, parse_spec
from transit.core.rejection import Rejection, RejectionKind


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    #: (line number, spec) of every good row.
    specs: tuple[tuple[int, BoardSpec], ...]
    rejections: tuple[Rejection, ...]
    rows: int  # data rows read


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM); GBK as a fallback, since Chinese spreadsheets save it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gbk")
        except UnicodeDecodeError:
            raise ValueError("the file is neither UTF-8 nor GBK text") from None


def parse_board_csv(
    text: str,
    known_stops: Collection[str] | None = None,
    known_routes: Collection[str] | None = None,
) -> ParsedCsv:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return ParsedCsv((), (Rejection(1, RejectionKind.MISSING_FIELD, "the file is empty; expected "
                                        "the header " + ",".join(REQUIRED)),), 0)
    missing = [h for h in REQUIRED if h not in header]
    unknown = [h for h in header if h not in FIELDS]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if missing or unknown or duplicated:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s) " + ", ".join(unknown) + " (optional ones: paging, delivery, "
                         "frame_format, message_mode)")
        if duplicated:
            parts.append("repeated column(s) " + ", ".join(duplicated))
        return ParsedCsv((), (Rejection(1, RejectionKind.MISSING_FIELD if missing else RejectionKind.MALFORMED,
                                        "header: " + "; ".join(parts)),), 0)

    specs: list[tuple[int, BoardSpec]] = []
    rejections: list[Rejection] = []
    seen: dict[str, int] = {}
    count = 0
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejections.append(Rejection(line, RejectionKind.MALFORMED, f"not valid CSV: {exc}"))
            break
        start, line = line, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        count += 1
        if len(row) != len(header):
            rejections.append(Rejection(start, RejectionKind.MALFORMED,
                                        f"expected {len(header)} fields, found {len(row)}"))
            continue
        result = parse_spec(dict(zip(header, row, strict=True)), known_stops, known_routes)
        if isinstance(result, list):
            kind = RejectionKind.BAD_VALUE
            if any(p.startswith("stop_ids: not in") for p in result):
                kind = RejectionKind.UNKNOWN_STOP
            elif any(p.startswith("route_ids: not in") for p in result):
                kind = RejectionKind.UNKNOWN_ROUTE
            rejections.append(Rejection(start, kind, "; ".join(result)))
            continue
        if result.board_id in seen:
            rejections.append(Rejection(start, RejectionKind.DUPLICATE,
                                        f"board_id {result.board_id!r} already given on line {seen[result.board_id]}"))
            continue
        seen[result.board_id] = start
        specs.append((start, result))
    return ParsedCsv(tuple(specs), tuple(rejections), count)
