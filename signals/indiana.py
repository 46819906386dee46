"""Decoding Indiana high-resolution event logs (signal id, timestamp, event code, parameter) with
pyarrow, fast enough to take a district's controllers' logs as they come.

The variants found in practice (see the ATSPM fixtures): with or without a header, a UTF-8 BOM,
ISO timestamps with 7 decimals, ``M/D/YYYY H:M:S.f`` with unpadded fields, columns in another
order, and logs without a signal-id column (the id then comes from the caller).  A header is
recognised by its names; without one, the timestamp column is the one that is not a number and
the numbers keep their usual order (signal id, code, parameter).

Timestamps without an offset are the controller's local time in ``tz``.  A bad row becomes a
Rejection naming its line; the rows beside it are kept.
"""

from __future__ import annotations

import io
import re
import zoneinfo
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from transit.core.rejection import Rejection, RejectionKind

SIGNAL = "signal_id"
TIMESTAMP = "timestamp"
CODE = "code"
PARAM = "param"

#: Header names seen in ATSPM exports and controller logs, normalised (lower case, letters only).
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(("signalid", "signalidentifier", "signal", "locationid", "locationidentifier",
                     "location", "deviceid", "controllerid", "controller", "crossid", "intersectionid"),
                    SIGNAL),
    **dict.fromkeys(("timestamp", "time", "eventtime", "datetime", "ts", "eventtimestamp", "date"),
                    TIMESTAMP),
    **dict.fromkeys(("eventcode", "code", "eventtypeid", "eventtype", "event", "eventid"), CODE),
    **dict.fromkeys(("eventparam", "eventparameter", "param", "parameter", "eventparamvalue"), PARAM),
}

_ISO = (r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})[ T](?P<h>\d{1,2}):(?P<mi>\d{1,2})"
        r"(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?\s*(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?$")
_US = (r"^(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})[ T](?P<h>\d{1,2}):(?P<mi>\d{1,2})"
       r"(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?\s*(?P<ampm>[AaPp][Mm])?$")
_TS_LIKE_ISO = re.compile(_ISO)
_TS_LIKE_US = re.compile(_US)
_EPOCH_DAYS_2000 = 10957
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


class EventLogError(ValueError):
    """The file as a whole cannot be read (no recognisable columns); the message says why."""


@dataclass(frozen=True, slots=True)
class ParsedEvents:
    """Good rows as columns.  ``signal_ids`` is the dictionary, ``signal_index`` points into it."""

    signal_ids: tuple[str, ...]
    signal_index: np.ndarray  # int32
    ts_us: np.ndarray  # int64, POSIX microseconds
    code: np.ndarray  # int16
    param: np.ndarray  # int32
    rows_read: int
    rejections: tuple[Rejection, ...] = field(default=())
    columns: tuple[str, ...] = field(default=())
    had_header: bool = False

    def __len__(self) -> int:
        return len(self.ts_us)

    def code_counts(self) -> dict[int, int]:
        codes, counts = np.unique(self.code, return_counts=True)
        return {int(c): int(n) for c, n in zip(codes, counts, strict=True)}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


def _first_line(data: bytes) -> tuple[list[str], int]:
    """Fields of the first non-empty line, and that line's number (1-based)."""
    start = 0
    for number in range(1, 65):
        end = data.find(b"\n", start)
        raw = data[start:] if end < 0 else data[start:end]
        text = raw.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
        if text:
            return [part.strip().strip('"') for part in text.split(",")], number
        if end < 0:
            break
        start = end + 1
    return [], 0


def _layout(first: list[str], default_signal: str | None) -> tuple[list[str], bool]:
    """Column roles in file order, and whether the first line is a header."""
    ts_cols = [i for i, f in enumerate(first) if _TS_LIKE_ISO.match(f) or _TS_LIKE_US.match(f)]
    if not ts_cols:  # no timestamp on the first line: it is a header
        roles = [HEADER_ALIASES.get(_norm(f)) for f in first]
        found = [r for r in roles if r]
        if len(set(found)) != len(found):
            raise EventLogError(f"the header {','.join(first)!r} names a column twice")
        missing = [r for r in (TIMESTAMP, CODE, PARAM) if r not in found]
        if SIGNAL not in found and default_signal is None:
            missing.insert(0, SIGNAL)
        if missing:
            raise EventLogError(
                f"the header {','.join(first)!r} has no column for {', '.join(missing)} "
                "(expected e.g. SignalId,Timestamp,EventCode,EventParam"
                + ("; or give the signal id with the import" if SIGNAL in missing else "") + ")")
        return [r or f"extra{i}" for i, r in enumerate(roles)], True
    if len(ts_cols) != 1:
        raise EventLogError(f"cannot tell the columns of the first line {','.join(first)!r}: "
                            "expected one timestamp, a signal id, a code and a parameter")
    others = [SIGNAL, CODE, PARAM] if len(first) == 4 else [CODE, PARAM] if len(first) == 3 else None
    if others is None:
        raise EventLogError(f"expected 4 columns (signal id, timestamp, code, parameter), "
                            f"got {len(first)} in {','.join(first)!r}")
    if SIGNAL not in others and default_signal is None:
        raise EventLogError("the log has no signal-id column; give the signal id with the import")
    roles_out: list[str] = []
    it = iter(others)
    for i in range(len(first)):
        roles_out.append(TIMESTAMP if i == ts_cols[0] else next(it))
    return roles_out, False


def _nonempty_lines(data: bytes) -> np.ndarray:
    """Physical line numbers (1-based) of the lines pyarrow reads as rows (non-empty ones)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(buf) and buf[-1] != 10:
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, np.int64)
    lengths = ends - starts
    has_cr = np.zeros(len(ends), dtype=bool)
    nonzero = lengths > 0
    has_cr[nonzero] = buf[ends[nonzero] - 1] == 13
    empty = (lengths == 0) | ((lengths == 1) & has_cr)
    if len(starts):  # a BOM-only first line is empty too
        empty[0] |= bytes(data[: ends[0]]).strip(b"\r").lstrip(b"\xef\xbb\xbf") == b""
    return np.flatnonzero(~empty) + 1


def _read_table(data: bytes, names: list[str], skip: int) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    bad: list[tuple[int | None, str]] = []

    def handler(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        bad.clear()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip, use_threads=threads,
                                           block_size=8 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    table = read(True)
    if bad and any(number is None for number, _ in bad):
        table = read(False)  # single-threaded reading knows each bad row's number
    return table, bad


def _to_int(arr: pa.Array, target: pa.DataType) -> tuple[np.ndarray, np.ndarray]:
    """Integers and a mask of rows that were not integers of ``target``'s range."""
    try:
        values = pc.cast(arr, target)
        return values.to_numpy(zero_copy_only=False), np.zeros(len(arr), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = pc.match_substring_regex(arr, r"^-?\d{1,10}$").to_numpy(zero_copy_only=False)
    as_i64 = pc.cast(pc.if_else(pa.array(ok), arr, "0"), pa.int64()).to_numpy()
    info = np.iinfo(target.to_pandas_dtype())
    ok &= (as_i64 >= info.min) & (as_i64 <= info.max)
    return np.where(ok, as_i64, 0).astype(target.to_pandas_dtype()), ~ok


def _fields(struct: pa.Array, name: str, default: int) -> np.ndarray:
    col = pc.struct_field(struct, name)
    col = pc.if_else(pc.equal(col, ""), str(default), col)
    return pc.cast(pc.fill_null(col, str(default)), pa.int64()).to_numpy(zero_copy_only=False)


def _regex_times(arr: pa.Array, tz: str, order: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The slow path: any mix of ISO and M/D/YYYY forms, checked field by field."""
    n = len(arr)
    us = np.zeros(n, dtype=np.int64)
    bad = np.ones(n, dtype=bool)
    for pattern in order:
        if not bad.any():
            break
        todo = arr if bad.all() else pc.if_else(pa.array(bad), arr, pa.scalar(None, pa.string()))
        struct = pc.extract_regex(todo, pattern)
        matched = pc.is_valid(struct).to_numpy(zero_copy_only=False) & bad
        if not matched.any():
            continue
        y, mo, d = (_fields(struct, k, 0) for k in ("y", "mo", "d"))
        h, mi, s = (_fields(struct, k, 0) for k in ("h", "mi", "s"))
        frac = pc.struct_field(struct, "f")
        frac = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.fill_null(frac, ""), 6, "0"), 0, 6)
        frac_us = pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False)
        if pattern is _US:
            ampm = pc.utf8_lower(pc.fill_null(pc.struct_field(struct, "ampm"), "")).to_numpy(zero_copy_only=False)
            pm = ampm == "pm"
            am = ampm == "am"
            h = np.where(pm & (h < 12), h + 12, np.where(am & (h == 12), 0, h))
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        dim = _DAYS_IN_MONTH[np.clip(mo, 0, 12)] - ((mo == 2) & ~leap)
        valid = (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (h <= 23) & (mi <= 59) & (s <= 59)
        days = _days_from_civil(y, mo, d)
        local_us = ((days * 86400 + h * 3600 + mi * 60 + s) * 1_000_000) + frac_us
        if pattern is _ISO:
            zone = pc.fill_null(pc.struct_field(struct, "z"), "").to_numpy(zero_copy_only=False)
            offset_s = _offsets(zone)
            has_zone = zone != ""
        else:
            offset_s = np.zeros(n, dtype=np.int64)
            has_zone = np.zeros(n, dtype=bool)
        utc_local = _assume(local_us, tz)
        value = np.where(has_zone, local_us - offset_s * 1_000_000, utc_local)
        take = matched & valid
        us[take] = value[take]
        bad[take] = False
    return us, bad


def _offsets(zone: np.ndarray) -> np.ndarray:
    out = np.zeros(len(zone), dtype=np.int64)
    for text in set(zone.tolist()) - {"", "Z"}:
        sign = -1 if text[0] == "-" else 1
        digits = text[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
        out[zone == text] = sign * minutes * 60
    return out


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (Howard Hinnant's algorithm, vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _assume(local_us: np.ndarray, tz: str) -> np.ndarray:
    """Wall-clock microseconds in ``tz`` -> POSIX microseconds."""
    if tz in ("UTC", "Etc/UTC"):
        return local_us
    naive = pa.array(local_us, type=pa.timestamp("us"))
    aware = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(aware, pa.int64()).to_numpy(zero_copy_only=False)


def _times(arr: pa.Array, tz: str) -> tuple[np.ndarray, np.ndarray]:
    first = arr[0].as_py() if len(arr) else ""
    if _TS_LIKE_ISO.match(first) and not first.endswith(("Z", "z")) and "+" not in first[10:] \
            and "-" not in first[10:]:
        try:  # fast path: ISO 8601 without offset, the usual ATSPM export (up to 9 decimals)
            naive = pc.cast(arr, pa.timestamp("ns"))
            local_us = pc.cast(naive, pa.int64()).to_numpy(zero_copy_only=False) // 1000
            return _assume(local_us, tz), np.zeros(len(arr), bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    order = (_US, _ISO) if _TS_LIKE_US.match(first) else (_ISO, _US)
    return _regex_times(arr, tz, order)


def parse_event_log(data: bytes, *, tz: str = "Asia/Shanghai", signal_id: str | None = None,
                    now: float | None = None, max_future_s: float = 120.0) -> ParsedEvents:
    """Decode one Indiana event log.  Raises :class:`EventLogError` when no row can be read;
    otherwise bad rows are rejections with their line numbers.  ``signal_id`` is used for logs
    without a signal-id column (and for rows whose id is blank)."""
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise EventLogError(f"unknown time zone {tz!r}") from None
    first, first_no = _first_line(data)
    if not first:
        raise EventLogError("the file is empty")
    roles, header = _layout(first, signal_id)
    table, bad_rows = _read_table(data, roles, skip=first_no if header else first_no - 1)
    n = table.num_rows
    lines: np.ndarray | None = None

    def line_numbers() -> np.ndarray:
        nonlocal lines
        if lines is None:
            physical = _nonempty_lines(data)
            skipped = {num for num, _ in bad_rows if num is not None}
            ordinal = np.arange(1, len(physical) + 1)
            keep = ordinal > (1 if header else 0)
            if skipped:
                keep &= ~np.isin(ordinal, np.fromiter(skipped, dtype=np.int64))
            lines = physical[keep]
        return lines

    rejections: list[Rejection] = []
    physical_all: np.ndarray | None = None
    for number, text in bad_rows:
        if physical_all is None:
            physical_all = _nonempty_lines(data)
        line = int(physical_all[number - 1]) if number and number <= len(physical_all) else 0
        rejections.append(Rejection(line, RejectionKind.MALFORMED,
                                    f"line {line}: expected {len(roles)} fields, got {text!r}"))

    def col(role: str) -> pa.Array:
        return pc.utf8_trim_whitespace(table.column(role).combine_chunks())

    ts_us, bad_ts = _times(col(TIMESTAMP), tz) if n else (np.zeros(0, np.int64), np.zeros(0, bool))
    code, bad_code = _to_int(col(CODE), pa.int16()) if n else (np.zeros(0, np.int16), np.zeros(0, bool))
    param, bad_param = _to_int(col(PARAM), pa.int32()) if n else (np.zeros(0, np.int32), np.zeros(0, bool))
    bad_code |= code < 0
    if SIGNAL in roles and n:
        signals = col(SIGNAL)
        if signal_id is not None:
            signals = pc.if_else(pc.equal(signals, ""), signal_id, signals)
        encoded = pc.dictionary_encode(signals)
        dictionary = encoded.dictionary.to_pylist()
        index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        blank = np.array([not s for s in dictionary], dtype=bool)
        bad_signal = blank[index] if blank.any() else np.zeros(n, dtype=bool)
    else:
        dictionary = [signal_id or ""]
        index = np.zeros(n, dtype=np.int32)
        bad_signal = np.zeros(n, dtype=bool)
    bad_future = np.zeros(n, dtype=bool)
    if now is not None and n:
        bad_future = ts_us > int((now + max_future_s) * 1_000_000)
    bad = bad_ts | bad_code | bad_param | bad_signal | bad_future
    if bad.any():
        rows = line_numbers()
        raw = {role: table.column(role) for role in (TIMESTAMP, CODE, PARAM)}
        for i in np.flatnonzero(bad)[:1000].tolist():
            line = int(rows[i]) if i < len(rows) else 0
            if bad_signal[i]:
                rejections.append(Rejection(line, RejectionKind.MISSING_FIELD, f"line {line}: no signal id"))
            elif bad_ts[i]:
                rejections.append(Rejection(line, RejectionKind.BAD_VALUE,
                                            f"line {line}: bad timestamp {raw[TIMESTAMP][i].as_py()!r} "
                                            "(expected ISO 8601 or M/D/YYYY H:M:S.f)"))
            elif bad_code[i]:
                rejections.append(Rejection(line, RejectionKind.BAD_VALUE,
                                            f"line {line}: bad event code {raw[CODE][i].as_py()!r} "
                                            "(expected an integer 0-32767)"))
            elif bad_param[i]:
                rejections.append(Rejection(line, RejectionKind.BAD_VALUE,
                                            f"line {line}: bad event parameter {raw[PARAM][i].as_py()!r}"))
            else:
                rejections.append(Rejection(line, RejectionKind.FUTURE_TIMESTAMP,
                                            f"line {line}: timestamp {raw[TIMESTAMP][i].as_py()!r} "
                                            "is in the future"))
        extra = int(bad.sum()) - 1000
        if extra > 0:
            rejections.append(Rejection(0, RejectionKind.BAD_VALUE, f"... and {extra} more bad rows"))
        good = ~bad
        ts_us, code, param, index = ts_us[good], code[good], param[good], index[good]
    rejections.sort(key=lambda r: r.index)
    return ParsedEvents(
        signal_ids=tuple(dictionary), signal_index=index, ts_us=ts_us.astype(np.int64),
        code=code.astype(np.int16), param=param.astype(np.int32), rows_read=n + len(bad_rows),
        rejections=tuple(rejections), columns=tuple(roles), had_header=header,
    )
