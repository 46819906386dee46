"""Decoding fare batches (CSV or JSON) into checked columns and rejections, without I/O.

Exports from fare collection systems run to millions of rows, so the common case is columnar:
pyarrow parses the CSV on several threads and every check is a vectorised compute over whole
columns.  Python looks at single rows only where something is wrong, to name what it was and
on which line.  A file whose line numbers arrow cannot vouch for (ragged rows, blank lines,
quoted line breaks) is read again with the csv module, which counts physical lines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from feeds.fares.channels import Channel, channel_lookup
from transit.core.rejection import Rejection, RejectionKind

#: Accepted header names for each field.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "transaction_id": ("transaction_id", "txn_id", "trans_id"),
    "time": ("time", "ts", "timestamp", "transaction_time"),
    "line": ("line", "route_id", "line_id"),
    "vehicle": ("vehicle", "vehicle_id", "bus_id"),
    "stop_id": ("stop_id", "boarding_stop", "stop"),
    "channel": ("channel", "payment_channel"),
    "amount_fen": ("amount_fen",),
    "date": ("date", "service_date"),
    "boardings": ("boardings",),
    "source": ("source",),
}
TRANSACTION_FIELDS = ("transaction_id", "time", "line", "vehicle", "channel", "amount_fen")
AGGREGATE_FIELDS = ("line", "vehicle", "date", "channel", "boardings")
MAX_ID_CHARS = 128
MAX_BOARDINGS = 100_000  # per vehicle, day and channel
EARLIEST_TS = 946684800.0  # 2000-01-01: older times come from terminals whose clock was reset

TRANSACTION_SCHEMA = pa.schema([
    ("line", pa.int64()), ("transaction_id", pa.string()), ("ts", pa.float64()),
    ("service_date", pa.date32()), ("route_id", pa.string()), ("vehicle_id", pa.string()),
    ("stop_id", pa.string()), ("channel", pa.string()), ("amount_fen", pa.int64()),
])
AGGREGATE_SCHEMA = pa.schema([
    ("line", pa.int64()), ("route_id", pa.string()), ("vehicle_id", pa.string()),
    ("service_date", pa.date32()), ("channel", pa.string()), ("boardings", pa.int64()),
    ("source", pa.string()),
])


@dataclass(frozen=True, slots=True)
class FareLimits:
    now: float
    timezone: str = "Asia/Shanghai"
    max_amount_fen: int = 10_000
    max_future_s: float = 3600.0
    #: Rejections described one by one; the rest are only counted.
    max_reported: int = 1000


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


class _Problems:
    """Collects at most one problem per row: the first check that fails names it."""

    def __init__(self, lines: np.ndarray, limit: int) -> None:
        self.lines = lines
        self.bad = np.zeros(len(lines), dtype=bool)
        self.limit = limit
        self.rejections: list[Rejection] = []
        self.by_kind: dict[str, int] = {}

    def add(self, mask: np.ndarray, kind: RejectionKind, describe: Callable[[int], str]) -> None:
        new = mask & ~self.bad
        rows = np.flatnonzero(new)
        if rows.size == 0:
            return
        self.bad |= new
        self.by_kind[str(kind)] = self.by_kind.get(str(kind), 0) + int(rows.size)
        for row in rows[: max(0, self.limit - len(self.rejections))]:
            self.rejections.append(Rejection(int(self.lines[row]), kind, describe(int(row))))

    def whole(self, line: int, kind: RejectionKind, detail: str, rows: int = 1) -> None:
        self.by_kind[str(kind)] = self.by_kind.get(str(kind), 0) + rows
        if len(self.rejections) < self.limit:
            self.rejections.append(Rejection(line, kind, detail))


# ---------------------------------------------------------------------------------------- times
def parse_time_text(text: str, tz: dt.tzinfo) -> float | None:
    """One time as POSIX seconds: ISO 8601 (offset optional, local zone assumed), ``2026/11/3
    7:05:00`` as exports write it, or POSIX seconds.  None when it is none of these."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else _parse_datetime(text, tz)
    except (ValueError, OverflowError):
        return None


def _parse_datetime(text: str, tz: dt.tzinfo) -> float:
    cleaned = text.replace("/", "-")
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        value = None
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                value = dt.datetime.strptime(cleaned, fmt)
                break
            except ValueError:
                continue
        if value is None:
            raise
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.timestamp()


def _times(text: pa.Array, timezone: str) -> np.ndarray:
    """POSIX seconds for each string; NaN where it is not a time."""
    ts = np.full(len(text), np.nan)
    if len(text) == 0:
        return ts
    for convert in (_cast_with_offset, lambda a: _cast_local(a, timezone)):
        try:  # the common case: the whole column in one format
            return convert(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    numeric = pc.match_substring_regex(text, r"^\s*\d{9,11}(\.\d+)?\s*$").to_numpy(zero_copy_only=False)
    offset = pc.match_substring_regex(text, r"(Z|z|[+-]\d\d:?\d\d)\s*$").to_numpy(zero_copy_only=False)
    tz = zoneinfo.ZoneInfo(timezone)
    groups: list[tuple[np.ndarray, Callable[[pa.Array], np.ndarray]]] = [
        (numeric, lambda a: pc.cast(pc.utf8_trim_whitespace(a), pa.float64()).to_numpy(zero_copy_only=False)),
        (offset & ~numeric, _cast_with_offset),
        (~offset & ~numeric, lambda a: _cast_local(a, timezone)),
    ]
    for mask, convert in groups:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            continue
        part = text.take(pa.array(rows))
        try:
            ts[rows] = convert(part)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            ts[rows] = [v if (v := parse_time_text(s, tz)) is not None else np.nan for s in part.to_pylist()]
    return ts


def _cast_with_offset(text: pa.Array) -> np.ndarray:
    stamps = pc.cast(pc.utf8_trim_whitespace(text), pa.timestamp("us", tz="UTC"))
    return pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False) / 1e6


def _cast_local(text: pa.Array, timezone: str) -> np.ndarray:
    naive = pc.cast(pc.utf8_trim_whitespace(text), pa.timestamp("us"))
    stamps = pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(stamps, pa.int64()).to_numpy(zero_copy_only=False) / 1e6


def local_dates(ts: np.ndarray, timezone: str) -> pa.Array:
    """The calendar date in ``timezone`` of each instant (NaN gives 1970-01-01; mask it)."""
    micros = pa.array(np.nan_to_num(ts, nan=0.0) * 1e6, pa.float64()).cast(pa.int64())
    stamps = micros.cast(pa.timestamp("us", tz=timezone))
    return pc.cast(pc.local_timestamp(stamps), pa.date32())


# ---------------------------------------------------------------------------------------- fields
def _trimmed(col: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(col)


def _empty(col: pa.Array) -> np.ndarray:
    return pc.equal(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)


def _channels(col: pa.Array) -> pa.Array:
    table = channel_lookup()
    keys = pa.array(list(table))
    values = pa.array([c.value for c in table.values()])
    return pc.take(values, pc.index_in(pc.utf8_lower(_trimmed(col)), value_set=keys))


def _whole_numbers(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) for each string; ok is False where it is not a whole number."""
    text = _trimmed(col)
    try:
        return pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False), np.ones(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    ok = pc.match_substring_regex(text, r"^[+-]?\d{1,15}$").to_numpy(zero_copy_only=False)
    safe = pc.if_else(pa.array(ok), pc.replace_substring(text, "+", ""), pa.scalar("0"))
    return pc.cast(safe, pa.int64()).to_numpy(zero_copy_only=False), ok


def _dates(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    text = pc.replace_substring(pc.replace_substring(_trimmed(col), "/", "-"), ".", "-")
    compact = pc.match_substring_regex(text, r"^\d{8}$")
    text = pc.if_else(compact, pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 4), pc.utf8_slice_codeunits(text, 4, 6),
        pc.utf8_slice_codeunits(text, 6, 8), "-"), text)
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    ok = pc.is_valid(parsed).to_numpy(zero_copy_only=False)
    return pc.cast(parsed, pa.date32()), ok


def _show(col: pa.Array, row: int) -> str:
    value = col[row].as_py()
    return repr(value if len(value) <= 60 else value[:57] + "...")


_KNOWN = ", ".join(c.value for c in Channel)


def _check_common(cols: dict[str, pa.Array], problems: _Problems, kinds: Sequence[str]) -> None:
    for name in kinds:
        problems.add(_empty(cols[name]), RejectionKind.MISSING_FIELD, lambda r, n=name: f"{n} is empty")
    for name in ("transaction_id", "line", "vehicle", "stop_id"):
        if name in cols:
            long = pc.greater(pc.utf8_length(cols[name]), MAX_ID_CHARS).to_numpy(zero_copy_only=False)
            problems.add(long, RejectionKind.BAD_VALUE,
                         lambda r, n=name: f"{n} is longer than {MAX_ID_CHARS} characters")


def check_transactions(raw: Mapping[str, pa.Array], lines: np.ndarray, limits: FareLimits,
                       problems: _Problems) -> pa.Table:
    cols = {name: _trimmed(raw[name]) if name in raw else pa.array([""] * len(lines)) for name in
            (*TRANSACTION_FIELDS, "stop_id")}
    _check_common(cols, problems, TRANSACTION_FIELDS)
    channel = _channels(cols["channel"])
    problems.add(pc.is_null(channel).to_numpy(zero_copy_only=False), RejectionKind.BAD_VALUE,
                 lambda r: f"unknown channel {_show(cols['channel'], r)} (known: {_KNOWN})")
    ts = _times(cols["time"], limits.timezone)
    problems.add(np.isnan(ts), RejectionKind.MALFORMED,
                 lambda r: f"time {_show(cols['time'], r)} is not an ISO 8601 time or POSIX seconds")
    problems.add(ts > limits.now + limits.max_future_s, RejectionKind.FUTURE_TIMESTAMP,
                 lambda r: f"time {_show(cols['time'], r)} is more than {limits.max_future_s:.0f} s "
                           f"in the future")
    problems.add(ts < EARLIEST_TS, RejectionKind.BAD_VALUE,
                 lambda r: f"time {_show(cols['time'], r)} is before 2000 (a terminal clock reset?)")
    amount, whole = _whole_numbers(cols["amount_fen"])
    problems.add(~whole, RejectionKind.MALFORMED,
                 lambda r: f"amount_fen {_show(cols['amount_fen'], r)} is not a whole number of fen")
    problems.add(amount < 0, RejectionKind.BAD_VALUE, lambda r: f"amount_fen {amount[r]} is negative")
    problems.add(amount > limits.max_amount_fen, RejectionKind.BAD_VALUE,
                 lambda r: f"amount_fen {amount[r]} is over the limit of {limits.max_amount_fen} fen")
    keep = pa.array(~problems.bad)
    stop = cols["stop_id"]
    table = pa.table({
        "line": pa.array(lines, pa.int64()),
        "transaction_id": cols["transaction_id"],
        "ts": pa.array(ts, pa.float64()),
        "service_date": local_dates(ts, limits.timezone),
        "route_id": cols["line"],
        "vehicle_id": cols["vehicle"],
        "stop_id": pc.if_else(pc.equal(pc.utf8_length(stop), 0), pa.scalar(None, pa.string()), stop),
        "channel": channel,
        "amount_fen": pa.array(amount, pa.int64()),
    }, schema=TRANSACTION_SCHEMA)
    return table.filter(keep)


def check_aggregates(raw: Mapping[str, pa.Array], lines: np.ndarray, limits: FareLimits,
                     problems: _Problems) -> pa.Table:
    cols = {name: _trimmed(raw[name]) if name in raw else pa.array([""] * len(lines)) for name in
            (*AGGREGATE_FIELDS, "source")}
    _check_common(cols, problems, AGGREGATE_FIELDS)
    channel = _channels(cols["channel"])
    problems.add(pc.is_null(channel).to_numpy(zero_copy_only=False), RejectionKind.BAD_VALUE,
                 lambda r: f"unknown channel {_show(cols['channel'], r)} (known: {_KNOWN})")
    dates, ok = _dates(cols["date"])
    problems.add(~ok, RejectionKind.MALFORMED,
                 lambda r: f"date {_show(cols['date'], r)} is not a date (YYYY-MM-DD)")
    today = dt.datetime.fromtimestamp(limits.now, zoneinfo.ZoneInfo(limits.timezone)).date()
    day_numbers = pc.cast(pc.fill_null(dates, dt.date(1970, 1, 1)), pa.int32()).to_numpy(zero_copy_only=False)
    problems.add(day_numbers > (today - dt.date(1970, 1, 1)).days, RejectionKind.FUTURE_TIMESTAMP,
                 lambda r: f"date {_show(cols['date'], r)} has not finished yet (today is {today})")
    problems.add(day_numbers < (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days, RejectionKind.BAD_VALUE,
                 lambda r: f"date {_show(cols['date'], r)} is before 2000")
    boardings, whole = _whole_numbers(cols["boardings"])
    problems.add(~whole, RejectionKind.MALFORMED,
                 lambda r: f"boardings {_show(cols['boardings'], r)} is not a whole number")
    problems.add(boardings < 0, RejectionKind.BAD_VALUE, lambda r: f"boardings {boardings[r]} is negative")
    problems.add(boardings > MAX_BOARDINGS, RejectionKind.BAD_VALUE,
                 lambda r: f"boardings {boardings[r]} is over {MAX_BOARDINGS} for one vehicle and day")
    source = cols["source"]
    table = pa.table({
        "line": pa.array(lines, pa.int64()),
        "route_id": cols["line"],
        "vehicle_id": cols["vehicle"],
        "service_date": dates,
        "channel": channel,
        "boardings": pa.array(boardings, pa.int64()),
        "source": pc.if_else(pc.equal(pc.utf8_length(source), 0), pa.scalar(None, pa.string()), source),
    }, schema=AGGREGATE_SCHEMA)
    return table.filter(pa.array(~problems.bad))


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


def _python_columns(body: bytes, n: int, first_line: int, problems: _Problems) -> tuple[dict[int, pa.Array],
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
    head, newline, body = data.partition(b"\n")
    problems = _Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
    header_row = next(csv.reader([head.decode("utf-8", errors="replace")]), [])
    columns = _canonical_header(header_row)
    fields = set(columns.values())
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


def _batch(problems: _Problems, rows: int, fmt: str, transactions: pa.Table | None = None,
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
    problems = _Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
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
        problems = _Problems(np.zeros(0, dtype=np.int64), limits.max_reported)
        problems.whole(0, RejectionKind.MALFORMED, f"the body is not JSON: {exc}")
        return _batch(problems, rows=0, fmt="json")
    return decode_json(body, limits)
