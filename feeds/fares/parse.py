"""Decoding fare batches (CSV or JSON) into checked columns and rejections, without I/O.

Exports from fare collection systems run to millions of rows, so the common case is columnar:
pyarrow parses the CSV on several threads and ``checks`` works on whole columns.  A file whose
line numbers arrow cannot vouch for (ragged rows, blank lines, quoted line breaks) is read again
with the csv module, which counts physical lines, so every rejection names its true line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from feeds.fares.checks import (
    AGGREGATE_FIELDS,
    AGGREGATE_SCHEMA,
    COLUMN_NAMES,
    TRANSACTION_FIELDS,
    TRANSACTION_SCHEMA,
    FareLimits,
    Problems,
    check_aggregates,
    check_transactions,
    parse_time_text,
)
from transit.core.rejection import Rejection, RejectionKind

__all__ = ["FareBatch", "FareLimits", "decode_csv", "decode_json", "decode_json_bytes", "parse_time_text"]

@dataclass(frozen=True)
class FareBatch:
    """Checked rows ready to store.  ``line`` in both tables is the CSV line (1-based, header
    is line 1) or the position in a JSON list (0-based)."""

    transactions: pa.Table
    aggregates: pa.Table
    rejections: tuple[Rejection, ...] = ()
    rejected_by_kind: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    #: "csv" (rejection index = file line) or "json" (index = position in the list).
    format: str = "csv"

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_kind.values())

    @property
    def empty(self) -> bool:
        return self.transactions.num_rows == 0 and self.aggregates.num_rows == 0


# ---------------------------------------------------------------------------------------- CSV
def _canonical_header(header: Sequence[str]) -> dict[int, str]:
    lookup = {alias: name for name, aliases in COLUMN_NAMES.items() for alias in aliases}
    out: dict[int, str] = {}
    for i, raw in enumerate(header):
        name = lookup.get(raw.strip().lower().lstrip("\ufeff"))
        if name is not None and name not in out.values():
            out[i] = name
    return out


def _transcode(data: bytes) -> bytes:
    """UTF-8 as is; an export in GB18030/GBK (common from Chinese fare systems) converted."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace").encode("utf-8")


def _arrow_columns(body: bytes, n: int) -> dict[int, pa.ChunkedArray] | None:
    """Columns by position, or None when arrow's row numbers would not be the file's lines."""
    invalid: list[int] = []

    def skip(row: Any) -> str:
        invalid.append(1)
        return "skip"

    names = [f"c{i}" for i in range(n)]
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
        parse_options=pacsv.ParseOptions(invalid_row_handler=skip, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if invalid or table.num_rows != lines:
        return None
    return {i: table.column(i) for i in range(n)}


def _python_columns(body: bytes, n: int, first_line: int, problems: Problems) -> tuple[dict[int, pa.Array],
                                                                                          np.ndarray]:
    values: list[list[str]] = [[] for _ in range(n)]
    lines: list[int] = []
    text = body.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for record in reader:
            line = first_line + start
            start = reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != n:
                problems.whole(line, RejectionKind.MALFORMED, f"expected {n} fields as in the header, "
                                                              f"found {len(record)}")
                continue
            for i, v in enumerate(record):
                values[i].append(v)
            lines.append(line)
    except csv.Error as exc:
        problems.whole(first_line + start, RejectionKind.MALFORMED, f"CSV cannot be read from here on: {exc}")
    return {i: pa.array(v, pa.string()) for i, v in enumerate(values)}, np.array(lines, dtype=np.int64)


def decode_csv(data: bytes, limits: FareLimits, first_line: int = 1) -> FareBatch:
    """A CSV batch of transactions (a ``transaction_id`` column) or aggregate records (a
    ``boardings`` column).  ``first_line`` is the header's line in the file (chunked imports)."""
    data = _transcode(data)
    head, _, body = data.partition(b"\n")
    problems = Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
    header_row = next(csv.reader([head.decode("utf-8", errors="replace")]), [])
    columns = _canonical_header(header_row)
    fields = set(columns.values())
    required: tuple[str, ...]
    if "transaction_id" in fields:
        required, check = TRANSACTION_FIELDS, check_transactions
    elif "boardings" in fields:
        required, check = AGGREGATE_FIELDS, check_aggregates
    else:
        problems.whole(first_line, RejectionKind.MISSING_FIELD,
                       "the header names neither transaction_id (transactions: transaction_id,time,line,"
                       "vehicle,stop_id,channel,amount_fen) nor boardings (aggregates: line,vehicle,date,"
                       f"channel,boardings); found {','.join(header_row)!r}")
        return _batch(problems, rows=0, fmt="csv")
    missing = [f for f in required if f not in fields]
    if missing:
        problems.whole(first_line, RejectionKind.MISSING_FIELD, f"the header lacks {', '.join(missing)}")
        return _batch(problems, rows=0, fmt="csv")
    n = len(header_row)
    by_position = (_arrow_columns(body, n) if body and not body.isspace()
                   else {i: pa.array([], pa.string()) for i in range(n)})
    if by_position is not None:
        lines = np.arange(len(by_position[0]), dtype=np.int64) + first_line + 1
    else:
        by_position, lines = _python_columns(body, n, first_line, problems)
    raw = {name: by_position[i] for i, name in columns.items()}
    problems.lines = lines
    problems.bad = np.zeros(len(lines), dtype=bool)
    table = check(raw, lines, limits, problems)
    rows = len(lines) + sum(problems.by_kind.values()) - int(problems.bad.sum())
    if check is check_transactions:
        return _batch(problems, rows=rows, fmt="csv", transactions=table)
    return _batch(problems, rows=rows, fmt="csv", aggregates=table)


def _batch(problems: Problems, rows: int, fmt: str, transactions: pa.Table | None = None,
           aggregates: pa.Table | None = None) -> FareBatch:
    return FareBatch(
        transactions=transactions if transactions is not None else TRANSACTION_SCHEMA.empty_table(),
        aggregates=aggregates if aggregates is not None else AGGREGATE_SCHEMA.empty_table(),
        rejections=tuple(sorted(problems.rejections, key=lambda r: r.index)),
        rejected_by_kind=dict(problems.by_kind), rows=rows, format=fmt,
    )


# ---------------------------------------------------------------------------------------- JSON
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _json_columns(items: Iterable[tuple[int, Mapping[str, Any]]], names: Sequence[str]) -> tuple[
        dict[str, pa.Array], np.ndarray]:
    lookup = {alias: name for name, aliases in COLUMN_NAMES.items() for alias in aliases}
    values: dict[str, list[str]] = {name: [] for name in names}
    positions: list[int] = []
    for pos, obj in items:
        canon = {lookup.get(k.lower(), k): v for k, v in obj.items()}
        for name in names:
            values[name].append(_text(canon.get(name)))
        positions.append(pos)
    return {k: pa.array(v, pa.string()) for k, v in values.items()}, np.array(positions, dtype=np.int64)


def decode_json(body: Any, limits: FareLimits) -> FareBatch:
    """A JSON list of records (each a transaction or, with ``boardings``, an aggregate), or an
    object ``{"transactions": [...], "aggregates": [...]}``.  Rejections name list positions."""
    problems = Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
    if isinstance(body, Mapping) and ("transactions" in body or "aggregates" in body):
        tx_list, agg_list = body.get("transactions") or [], body.get("aggregates") or []
        if not isinstance(tx_list, list) or not isinstance(agg_list, list):
            problems.whole(0, RejectionKind.MALFORMED, "transactions and aggregates must be JSON lists")
            return _batch(problems, rows=0, fmt="json")
        tx_items = list(enumerate(tx_list))
        agg_items = list(enumerate(agg_list))
    elif isinstance(body, list):
        tx_items, agg_items = [], []
        for pos, obj in enumerate(body):
            if isinstance(obj, Mapping) and ("boardings" in obj and "transaction_id" not in obj):
                agg_items.append((pos, obj))
            else:
                tx_items.append((pos, obj))
    else:
        problems.whole(0, RejectionKind.MALFORMED, "expected a JSON list of fare records or an object with "
                                                   "transactions and/or aggregates")
        return _batch(problems, rows=0, fmt="json")
    rows = len(tx_items) + len(agg_items)
    objects: list[tuple[int, Mapping[str, Any]]] = []
    for pos, obj in tx_items:
        if not isinstance(obj, Mapping):
            problems.whole(pos, RejectionKind.MALFORMED, f"expected a JSON object, got {type(obj).__name__}")
        else:
            objects.append((pos, obj))
    raw, lines = _json_columns(objects, (*TRANSACTION_FIELDS, "stop_id"))
    problems.lines, problems.bad = lines, np.zeros(len(lines), dtype=bool)
    transactions = check_transactions(raw, lines, limits, problems)
    aggregate_objects: list[tuple[int, Mapping[str, Any]]] = []
    for pos, obj in agg_items:
        if not isinstance(obj, Mapping):
            problems.whole(pos, RejectionKind.MALFORMED, f"expected a JSON object, got {type(obj).__name__}")
        else:
            aggregate_objects.append((pos, obj))
    raw, lines = _json_columns(aggregate_objects, (*AGGREGATE_FIELDS, "source"))
    problems.lines, problems.bad = lines, np.zeros(len(lines), dtype=bool)
    aggregates = check_aggregates(raw, lines, limits, problems)
    return _batch(problems, rows=rows, fmt="json", transactions=transactions, aggregates=aggregates)


def decode_json_bytes(data: bytes, limits: FareLimits) -> FareBatch:
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems = Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
        problems.whole(0, RejectionKind.MALFORMED, f"the body is not JSON: {exc}")
        return _batch(problems, rows=0, fmt="json")
    return decode_json(body, limits)
