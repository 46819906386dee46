"""Derive the compact Indiana event-code table shipped as ``signals/event_codes.csv``.

The service must name event codes without the shared data folder, so the package carries its own
table: one row per code.  It is derived from the published enumeration (UDOT ATSPM
``IndianaEnumerations.cs`` and its flattened CSV, Apache-2.0) by this script::

    python -m signals.derive_codes /path/to/shared/data/atspm          # rewrite the table
    python -m signals.derive_codes /path/to/shared/data/atspm --check  # exit 1 if it differs

Rules: where a code is defined by several sections, the Indiana Specification entry wins, then
the Q-Free Specification, then Q-Free Ramp Metering; a missing display name is made from the enum
name ("RampMeterLane1Active" -> "Ramp Meter Lane 1 Active").  ``tests/test_signal_codes.py``
re-derives the table from both shared files and compares it with the shipped one.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

SECTION_ORDER = ("Indiana Specification", "QFree Specification", "QFree Ramp Metering")
COLUMNS = ("code", "name", "display_name", "param_type", "category", "section")
TABLE_PATH = Path(__file__).with_name("event_codes.csv")

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def display_from_enum(name: str) -> str:
    return _CAMEL.sub(" ", name)


def _rank(section: str) -> int:
    return SECTION_ORDER.index(section) if section in SECTION_ORDER else len(SECTION_ORDER)


def derive_from_csv(path: Path) -> list[dict[str, str]]:
    """One row per code from the flattened CSV (``indiana_event_codes.csv``)."""
    best: dict[int, dict[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            code = int(row["EventCode"])
            candidate = {
                "code": str(code),
                "name": row["EnumName"].strip(),
                "display_name": row["DisplayName"].strip() or display_from_enum(row["EnumName"].strip()),
                "param_type": row["ParamType"].strip(),
                "category": row["Category"].strip(),
                "section": row["Section"].strip(),
            }
            held = best.get(code)
            if held is None or _rank(candidate["section"]) < _rank(held["section"]):
                best[code] = candidate
    return [best[c] for c in sorted(best)]


_REGION = re.compile(r"^#region (.+)$")
_DISPLAY = re.compile(r'^\[Display\(Name = "(.*)"\)\]$')
_LAYER = re.compile(r"^\[IndianaEventLayer\(IndianaEventParamType\.(\w+), IndianaEventCategory\.(\w+)\)\]$")
_MEMBER = re.compile(r"^([A-Za-z_]\w*) = (\d+),?$")


def derive_from_cs(path: Path) -> list[dict[str, str]]:
    """The same table read from the C# enumeration itself (members, Display and layer attributes)."""
    region = ""
    display = param_type = category = ""
    best: dict[int, dict[str, str]] = {}
    in_enum = False
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = raw.strip()
        if line.startswith("public enum IndianaEnumerations"):
            in_enum = True
            continue
        if not in_enum or line.startswith("//"):
            continue
        if m := _REGION.match(line):
            region = m.group(1).strip()
        elif m := _DISPLAY.match(line):
            display = m.group(1)
        elif m := _LAYER.match(line):
            param_type, category = m.group(1), m.group(2)
        elif m := _MEMBER.match(line):
            code = int(m.group(2))
            candidate = {
                "code": str(code), "name": m.group(1),
                "display_name": display or display_from_enum(m.group(1)),
                "param_type": param_type, "category": category, "section": region,
            }
            held = best.get(code)
            if held is None or _rank(region) < _rank(held["section"]):
                best[code] = candidate
            display = param_type = category = ""
    return [best[c] for c in sorted(best)]


def render(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m signals.derive_codes ATSPM_FOLDER [--check]", file=sys.stderr)
        return 2
    folder = Path(args[0])
    rows = derive_from_csv(folder / "indiana_event_codes.csv")
    from_cs = derive_from_cs(folder / "IndianaEnumerations.cs")
    keys = ("code", "name", "display_name", "section")
    if [tuple(r[k] for k in keys) for r in rows] != [tuple(r[k] for k in keys) for r in from_cs]:
        print("the CSV and the C# enumeration disagree; check the shared files", file=sys.stderr)
        return 1
    text = render(rows)
    if "--check" in args:
        same = TABLE_PATH.read_text(encoding="utf-8") == text
        print("event_codes.csv is up to date" if same else "event_codes.csv differs from the derivation")
        return 0 if same else 1
    TABLE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} codes to {TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
