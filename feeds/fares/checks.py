"""Checking fare rows column by column: vectorised over whole columns, one problem per row.

Every check is a pyarrow/numpy computation over the batch; Python formats a message only for
the rows that fail (and only for the first ``FareLimits.max_reported`` of them), so a file of
millions of good rows costs a few vectorised passes.  The first failing check names a row's
problem.  Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


class Problems:
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
    value = _datetime(cleaned)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.timestamp()


def _datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


def _times(text: pa.Array, timezone: str) -> np.ndarray:
    """POSIX seconds for each string; NaN where it is not a time."""
    ts = np.full(len(text), np.nan)
    if len(text) == 0:
        return ts
    whole: tuple[Callable[[pa.Array], np.ndarray], ...] = (_cast_with_offset, lambda a: _cast_local(a, timezone))
    for convert in whole:
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
    """YYYY-MM-DD (also / or . separated, unpadded) or YYYYMMDD; ok is False for 2026-11-31."""
    text = pc.replace_substring(pc.replace_substring(_trimmed(col), "/", "-"), ".", "-")
    parts = pc.extract_regex(text, r"^(?P<y>\d{4})-?(?P<m>\d{1,2})-?(?P<d>\d{1,2})$")
    valid = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    fields = {}
    for name in ("y", "m", "d"):
        values = pc.fill_null(pc.struct_field(parts, name), "0")
        fields[name] = pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)
    y, m, d = fields["y"], fields["m"], fields["d"]
    valid &= (m >= 1) & (m <= 12) & (d >= 1)
    month = ((y - 1970) * 12 + np.clip(m, 1, 12) - 1).astype("datetime64[M]")
    length = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64)
    valid &= d <= length
    days = month.astype("datetime64[D]") + np.where(valid, d - 1, 0)
    return pa.array(days.astype("datetime64[D]"), pa.date32()), valid


def _show(col: pa.Array, row: int) -> str:
    value = col[row].as_py()
    return repr(value if len(value) <= 60 else value[:57] + "...")


_KNOWN = ", ".join(c.value for c in Channel)


def _check_common(cols: dict[str, pa.Array], problems: Problems, kinds: Sequence[str]) -> None:
    for name in kinds:
        problems.add(_empty(cols[name]), RejectionKind.MISSING_FIELD, _fixed(f"{name} is empty"))
    for name in ("transaction_id", "line", "vehicle", "stop_id"):
        if name in cols:
            long = pc.greater(pc.utf8_length(cols[name]), MAX_ID_CHARS).to_numpy(zero_copy_only=False)
            problems.add(long, RejectionKind.BAD_VALUE, _fixed(f"{name} is longer than {MAX_ID_CHARS} characters"))


def _fixed(text: str) -> Callable[[int], str]:
    return lambda row: text


def check_transactions(raw: Mapping[str, pa.Array], lines: np.ndarray, limits: FareLimits,
                       problems: Problems) -> pa.Table:
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
                     problems: Problems) -> pa.Table:
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
