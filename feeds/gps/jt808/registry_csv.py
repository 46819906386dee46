"""Reading the terminal registry CSV (``phone,vehicle_id,plate,route_id``) and checking terminal
fields from any source (CSV rows, admin API bodies).

Pure: text in, terminals and rejections out.  Every bad row is reported with its line number and
what is wrong with it while the good rows are kept.  Files saved by Excel on a Chinese Windows are
GBK rather than UTF-8, so undecodable UTF-8 is retried as GB18030.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from feeds.gps.jt808.packet import normalise_phone
from feeds.gps.jt808.terminal import MAX_TEXT, Terminal
from transit.core.rejection import Rejection, RejectionKind

COLUMNS = ("phone", "vehicle_id", "plate", "route_id")
REQUIRED = ("phone", "vehicle_id")


@dataclass(frozen=True, slots=True)
class ParsedRegistry:
    #: (line number, terminal) for every good row.
    terminals: tuple[tuple[int, Terminal], ...]
    #: Bad rows; ``index`` is the 1-based line number in the file.
    rejections: tuple[Rejection, ...] = field(default=())


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _text(name: str, value: object, required: bool) -> tuple[str | None, str | None]:
    """(clean value, problem)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (f"{name} is missing" if required else None)
    if not isinstance(value, str):
        return None, f"{name} must be a string, got {value!r}"
    text = value.strip()
    if len(text) > MAX_TEXT:
        return None, f"{name} is {len(text)} characters long, at most {MAX_TEXT} allowed"
    if any(ord(c) < 32 for c in text):
        return None, f"{name} {text!r} contains control characters"
    return text, None


def check_terminal(values: Mapping[str, object]) -> Terminal | str:
    """Fields of one terminal (a CSV row or a JSON body) → Terminal, or what is wrong."""
    raw_phone = values.get("phone")
    if raw_phone is None or (isinstance(raw_phone, str) and not raw_phone.strip()):
        return "phone is missing"
    phone = normalise_phone(str(raw_phone)) if isinstance(raw_phone, str | int) else None
    if phone is None:
        return f"phone {raw_phone!r} must be 1 to 20 digits (the terminal's SIM number)"
    vehicle_id, problem = _text("vehicle_id", values.get("vehicle_id"), True)
    if problem or vehicle_id is None:
        return problem or "vehicle_id is missing"
    plate, problem = _text("plate", values.get("plate"), False)
    if problem:
        return problem
    route_id, problem = _text("route_id", values.get("route_id"), False)
    if problem:
        return problem
    return Terminal(phone, vehicle_id, plate, route_id)


def parse_registry_csv(text: str) -> ParsedRegistry:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = 0
    terminals: list[tuple[int, Terminal]] = []
    rejections: list[Rejection] = []
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                header_line = line
                missing = [c for c in REQUIRED if c not in header]
                unknown = [c for c in header if c not in COLUMNS]
                if missing or unknown:
                    problem = (f"header must name the columns {','.join(COLUMNS)}"
                               + (f"; missing {', '.join(missing)}" if missing else "")
                               + (f"; unknown {', '.join(unknown)}" if unknown else ""))
                    return ParsedRegistry((), (Rejection(line, RejectionKind.MISSING_FIELD, problem),))
                continue
            if len(row) != len(header):
                rejections.append(Rejection(line, RejectionKind.MALFORMED,
                                            f"expected {len(header)} fields ({','.join(header)}), found {len(row)}"))
                continue
            result = check_terminal(dict(zip(header, row, strict=True)))
            if isinstance(result, str):
                kind = RejectionKind.MISSING_FIELD if result.endswith("is missing") else RejectionKind.BAD_VALUE
                rejections.append(Rejection(line, kind, result))
                continue
            first = seen.get(result.phone)
            if first is not None:
                rejections.append(Rejection(line, RejectionKind.DUPLICATE,
                                            f"phone {result.phone} is already on line {first}"))
                continue
            seen[result.phone] = line
            terminals.append((line, result))
    except csv.Error as exc:
        rejections.append(Rejection(reader.line_num, RejectionKind.MALFORMED, f"unreadable CSV: {exc}"))
    if header is None:
        rejections.append(Rejection(max(header_line, 1), RejectionKind.MISSING_FIELD,
                                    f"no header line; expected {','.join(COLUMNS)}"))
    return ParsedRegistry(tuple(terminals), tuple(rejections))


def terminals_to_csv(terminals: list[Terminal]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for t in terminals:
        writer.writerow((t.phone, t.vehicle_id, t.plate or "", t.route_id or ""))
    return out.getvalue()
