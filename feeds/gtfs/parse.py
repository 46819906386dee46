"""Parsing GTFS files into typed Arrow columns, naming every bad value by file and line.

pyarrow's multithreaded CSV reader does the tokenising (tens of milliseconds for a city's
stop_times.txt); conversions are vectorised over Arrow/numpy buffers, and only the rows that fail
are looked at one by one to word the error.  Line numbers count the header as line 1.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from feeds.gtfs.errors import GtfsError
from feeds.gtfs.spec import FileSpec

MAX_ERRORS_PER_CHECK = 50

_INT = r"^[+-]?\d+$"
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DATE = r"^\d{8}$"


@dataclass
class ParsedFile:
    spec: FileSpec
    rows: int
    #: Typed columns named as in the database table (times become ``*_s`` seconds).
    columns: dict[str, pa.Array] = field(default_factory=dict)
    errors: list[GtfsError] = field(default_factory=list)
    #: Line number of the first data row (2: right after the header).
    first_line: int = 2

    def line_of(self, row: int) -> int:
        return row + self.first_line


def split_rows(data: bytes, target_bytes: int) -> list[tuple[int, bytes]]:
    """Cut a file's data rows into pieces of about ``target_bytes`` at line ends, so pieces can
    be parsed while earlier ones are being COPYed.  Returns (first line number, bytes) pairs.
    A file with quotes is kept whole: a quoted field may hold a line break."""
    newline = data.find(b"\n")
    body = data[newline + 1 :] if newline >= 0 else b""
    if b'"' in body or len(body) < 2 * target_bytes:
        return [(2, body)]
    pieces: list[tuple[int, bytes]] = []
    pos, line = 0, 2
    while pos < len(body):
        end = body.find(b"\n", pos + target_bytes)
        end = len(body) if end < 0 else end + 1
        piece = body[pos:end]
        pieces.append((line, piece))
        line += piece.count(b"\n")
        pos = end
    return pieces


def merge_parsed(parts: list[ParsedFile]) -> ParsedFile:
    """One ParsedFile from the pieces of a split file (in order)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    merged = ParsedFile(first.spec, sum(p.rows for p in parts), first_line=first.first_line)
    for name in first.columns:
        merged.columns[name] = pa.concat_arrays([p.columns[name] for p in parts])
    merged.errors = [e for p in parts for e in p.errors]
    return merged


def _strings(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name).combine_chunks() if name in table.column_names else None
    if column is None:
        return pa.nulls(table.num_rows, pa.string())
    return pc.utf8_trim_whitespace(column)


def _blank(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False), dtype=bool)


def _bad_rows(values: pa.Array, pattern: str) -> np.ndarray:
    ok = pc.fill_null(pc.match_substring_regex(values, pattern), False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(~np.asarray(ok, dtype=bool) & ~_blank(values))


def _report(parsed: ParsedFile, rows: np.ndarray, values: pa.Array, column: str, what: str) -> None:
    for r in rows[:MAX_ERRORS_PER_CHECK]:
        parsed.errors.append(GtfsError(parsed.spec.file, parsed.line_of(int(r)),
                                       f"{column} {values[int(r)].as_py()!r} {what}"))


def _as_int(parsed: ParsedFile, values: pa.Array, column: str) -> pa.Array:
    try:  # fast path: every value is an integer or empty
        return pc.cast(pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad = _bad_rows(values, _INT)
    _report(parsed, bad, values, column, "is not an integer")
    cleaned = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if bad.size:
        mask = np.zeros(len(values), dtype=bool)
        mask[bad] = True
        cleaned = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), cleaned)
    return pc.cast(cleaned, pa.int64())


def _as_float(parsed: ParsedFile, values: pa.Array, column: str) -> pa.Array:
    try:
        return pc.cast(pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad = _bad_rows(values, _FLOAT)
    _report(parsed, bad, values, column, "is not a number")
    cleaned = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if bad.size:
        mask = np.zeros(len(values), dtype=bool)
        mask[bad] = True
        cleaned = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), cleaned)
    return pc.cast(cleaned, pa.float64())


def _as_seconds(parsed: ParsedFile, values: pa.Array, column: str) -> pa.Array:
    """'H:MM:SS' (hours may pass 24) to seconds, checked and converted on the string buffer."""
    n = len(values)
    if n == 0:
        return pa.array([], pa.int32())
    values = values.cast(pa.string())
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    data = values.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    buf = np.concatenate([np.zeros(9, np.uint8), raw])  # room to look left of short strings
    end = offsets[1:].astype(np.int64) + 9
    length = (offsets[1:] - offsets[:-1]).astype(np.int64)
    if values.null_count:
        length = np.where(np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool), length, 0)
    empty = length == 0

    def digit(back: int) -> np.ndarray:
        return buf[end - back].astype(np.int64) - 48

    def is_digit(back: int) -> np.ndarray:
        return (buf[end - back] >= 48) & (buf[end - back] <= 57)

    shape_ok = (length >= 7) & (length <= 9) & (buf[end - 3] == 58) & (buf[end - 6] == 58)
    for back in (1, 2, 4, 5, 7):
        shape_ok &= is_digit(back)
    shape_ok &= (length < 8) | is_digit(8)
    shape_ok &= (length < 9) | is_digit(9)
    secs = digit(2) * 10 + digit(1)
    mins = digit(5) * 10 + digit(4)
    valid = shape_ok & (digit(2) <= 5) & (digit(5) <= 5)
    bad = np.flatnonzero(~valid & ~empty)
    _report(parsed, bad, values, column, "is not a time (H:MM:SS)")
    hours = digit(7) + np.where(length >= 8, digit(8) * 10, 0) + np.where(length >= 9, digit(9) * 100, 0)
    total = np.where(valid, hours * 3600 + mins * 60 + secs, 0).astype(np.int32)
    return pa.array(total, mask=~valid)


def _as_date(parsed: ParsedFile, values: pa.Array, column: str) -> pa.Array:
    bad = list(_bad_rows(values, _DATE))
    out: list[dt.date | None] = []
    for i, text in enumerate(values.to_pylist()):
        if not text:
            out.append(None)
            continue
        try:
            out.append(dt.datetime.strptime(text, "%Y%m%d").date())
        except ValueError:
            out.append(None)
            if i not in bad:
                bad.append(i)
    _report(parsed, np.array(sorted(bad), dtype=np.int64), values, column, "is not a date (YYYYMMDD)")
    return pa.array(out, pa.date32())


def _required(parsed: ParsedFile, values: pa.Array, column: str) -> None:
    empty = np.flatnonzero(_blank(values))
    for r in empty[:MAX_ERRORS_PER_CHECK]:
        parsed.errors.append(GtfsError(parsed.spec.file, parsed.line_of(int(r)), f"required value {column} is empty"))


def _locate_bad_rows(data: bytes, texts: list[str]) -> list[int | None]:
    """Line numbers of rows pyarrow refused (it does not always know them)."""
    lines = data.split(b"\n")
    found: list[int | None] = []
    for text in texts:
        needle = text.encode("utf-8", "replace").rstrip(b"\r")
        found.append(next((i + 1 for i, line in enumerate(lines) if line.rstrip(b"\r") == needle), None))
    return found


def read_file(spec: FileSpec, data: bytes, header: list[str], first_line: int | None = None) -> ParsedFile:
    """Parse one file.  ``header`` is the first line's column names, already stripped.

    With ``first_line``, ``data`` is a piece of the data rows only (no header line) whose first
    row is that line of the file."""
    refused: list[str] = []
    expected = len(header)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        refused.append(row.text)
        return "skip"

    names = [h if h else f"_unnamed_{i}" for i, h in enumerate(header)]

    def read(newlines_in_values: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=0 if first_line else 1,
                                           block_size=1 << 22),
            parse_options=pacsv.ParseOptions(newlines_in_values=newlines_in_values,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        if first_line and not data.strip():  # a file with its header only
            table = pa.table({c: pa.array([], pa.string()) for c in names})
        else:
            table = read(False)  # twice as fast; quoted line breaks are rare in GTFS
            if refused:
                refused.clear()
                table = read(True)
    except pa.ArrowInvalid as exc:
        parsed = ParsedFile(spec, 0, first_line=first_line or 2)
        problem = "is not valid UTF-8 text" if "UTF8" in str(exc) else f"could not be read: {exc}"
        parsed.errors.append(GtfsError(spec.file, None, problem))
        return parsed
    parsed = ParsedFile(spec, table.num_rows, first_line=first_line or 2)
    lines = _locate_bad_rows(data, refused[:MAX_ERRORS_PER_CHECK]) if refused else []
    if first_line:
        lines = [None if n is None else n + first_line - 1 for n in lines]
    for line, text in zip(lines, refused, strict=False):
        parsed.errors.append(GtfsError(spec.file, line, f"malformed CSV row (expected {expected} fields): {text[:80]!r}"))
    for column in spec.columns:
        if column not in names:
            continue
        values = _strings(table, column)
        if column in spec.required_columns:
            _required(parsed, values, column)
        kind = spec.kinds.get(column, "text")
        if kind == "text":
            parsed.columns[column] = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        elif kind == "int":
            parsed.columns[column] = _as_int(parsed, values, column)
        elif kind == "float":
            parsed.columns[column] = _as_float(parsed, values, column)
        elif kind == "date":
            parsed.columns[column] = _as_date(parsed, values, column)
        elif kind == "time":
            parsed.columns[column.removesuffix("_time") + "_s"] = _as_seconds(parsed, values, column)
    return parsed
