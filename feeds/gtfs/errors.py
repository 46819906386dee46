"""GTFS import errors: each names the file, the line and the problem."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from feeds.gtfs.spec import BY_TABLE


@dataclass(frozen=True, slots=True)
class GtfsError:
    file: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line is not None else self.file
        return f"{where}: {self.problem}"

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "problem": self.problem}


class GtfsImportFailed(Exception):
    """The feed is not valid as a whole; nothing of it became active."""

    def __init__(self, errors: list[GtfsError], feed_id: int | None = None) -> None:
        self.errors = errors
        self.feed_id = feed_id
        shown = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"GTFS import failed with {len(errors)} error(s):\n{shown}{more}")


_WHERE = re.compile(r'COPY (\w+), line (\d+)(?:, column (\w+))?(?:: "(.*)")?', re.S)
_TYPE_WORDS = {
    "gtfs_time": "is not a time (H:MM:SS)",
    "integer": "is not an integer",
    "double precision": "is not a number",
    "date": "is not a date (YYYYMMDD)",
}


def _file_for(table: str) -> str:
    base = re.sub(r"_v\d+$", "", table)
    spec = BY_TABLE.get(base)
    return spec.file if spec else table


def translate_copy_error(exc: asyncpg.PostgresError, file: str, columns: list[str]) -> GtfsError:
    """Turn a PostgreSQL COPY error into a GtfsError naming the file, line and column."""
    context = getattr(exc, "context", None) or getattr(exc, "where", None) or ""
    match = _WHERE.search(context)
    line = int(match.group(2)) if match else None
    column = match.group(3) if match else None
    value = match.group(4) if match and match.group(4) is not None else None
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(exc, asyncpg.CheckViolationError) and "gtfs_time" in message:
        column = column or _column_in(message, columns)
        return GtfsError(file, line, f"{column or 'time'} {_quoted(value)}is not a time (H:MM:SS)")
    if isinstance(exc, asyncpg.InvalidTextRepresentationError | asyncpg.InvalidDatetimeFormatError):
        kind = next((words for t, words in _TYPE_WORDS.items() if f"type {t}" in message), "is not valid")
        if "date" in message and kind == "is not valid":
            kind = _TYPE_WORDS["date"]
        found = re.search(r'"(.*)"', message)
        value = value if value is not None else (found.group(1) if found else None)
        return GtfsError(file, line, f"{column or 'value'} {_quoted(value)}{kind}")
    if isinstance(exc, asyncpg.DatetimeFieldOverflowError):
        return GtfsError(file, line, f"{column or 'date'} {_quoted(value)}is not a valid date")
    if isinstance(exc, asyncpg.NotNullViolationError):
        col = getattr(exc, "column_name", None) or column
        return GtfsError(file, line, f"required value {col} is empty")
    if isinstance(exc, asyncpg.NumericValueOutOfRangeError):
        return GtfsError(file, line, f"{column or 'value'} {_quoted(value)}is out of range")
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError):
        return GtfsError(file, line, "is not valid UTF-8 text")
    if isinstance(exc, asyncpg.BadCopyFileFormatError):
        return GtfsError(file, line, f"malformed CSV: {message}")
    return GtfsError(file, line, message)


def translate_unique_error(exc: asyncpg.UniqueViolationError, table: str) -> GtfsError:
    detail = getattr(exc, "detail", "") or ""
    match = re.search(r"Key \((.*)\)=\((.*)\) already exists", detail)
    file = _file_for(table)
    if match:
        names = [n.strip() for n in match.group(1).split(",")]
        values = [v.strip() for v in match.group(2).split(",")]
        pairs = [f"{n} {v!r}" for n, v in zip(names, values, strict=False) if n != "feed_id"]
        return GtfsError(file, None, f"duplicate {', '.join(pairs)}")
    return GtfsError(file, None, f"duplicate key: {detail or exc}")


def _column_in(message: str, columns: list[str]) -> str | None:
    return next((c for c in columns if c in message), None)


def _quoted(value: str | None) -> str:
    return f"{value!r} " if value is not None else ""
