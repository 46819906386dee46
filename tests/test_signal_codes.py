"""The packaged event-code table is what the published enumeration says, and names every code the
shared logs use, without the shared folder at run time."""

from __future__ import annotations

import csv
from pathlib import Path

from signals import codes
from signals.derive_codes import TABLE_PATH, derive_from_cs, derive_from_csv, main, render


def test_table_is_the_derivation_of_the_shared_csv(shared_data: Path) -> None:
    rows = derive_from_csv(shared_data / "atspm" / "indiana_event_codes.csv")
    assert TABLE_PATH.read_text(encoding="utf-8") == render(rows)
    assert main([str(shared_data / "atspm"), "--check"]) == 0


def test_table_agrees_with_the_csharp_enumeration(shared_data: Path) -> None:
    from_cs = derive_from_cs(shared_data / "atspm" / "IndianaEnumerations.cs")
    table = codes.event_codes()
    assert len(from_cs) == len(table) == 451
    for row in from_cs:
        entry = table[int(row["code"])]
        assert (entry.name, entry.display_name, entry.section) == (row["name"], row["display_name"], row["section"])
        assert (entry.param_type, entry.category) == (row["param_type"], row["category"])


def test_every_code_row_of_the_shared_csv_is_covered(shared_data: Path) -> None:
    with (shared_data / "atspm" / "indiana_event_codes.csv").open(encoding="utf-8-sig", newline="") as fh:
        published = {int(r["EventCode"]) for r in csv.DictReader(fh)}
    assert published == set(codes.event_codes())


def test_the_codes_the_log_reads_have_their_published_names() -> None:
    assert codes.event_name(1) == "PhaseBeginGreen"
    assert codes.event_name(4) == "PhaseGapOut"
    assert codes.event_name(5) == "PhaseMaxOut"
    assert codes.event_name(131) == "CoordPatternChange"
    assert codes.event_name(132) == "CycleLengthChange"
    assert [codes.event_name(c) for c in (134, 149)] == ["Split1Change", "Split16Change"]
    assert codes.event_name(173) == "UnitFlashStatusChange"
    assert codes.event_name(9999) == "Unknown9999"
    assert codes.name_counts({82: 3, 9999: 1})["9999"]["name"] is None
