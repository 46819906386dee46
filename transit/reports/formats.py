"""Reports as CSV tables and as one self-contained HTML file.

CSV starts with a UTF-8 byte-order mark so that Excel and WPS open the Chinese names correctly.
The HTML file is the dashboard page with its script, style and data inlined: it opens from
disk, offline, and shows exactly what /bureau showed for that period.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from transit.reports.report import Report

#: The dashboard's scripts, in load order (the page's own last).
SCRIPTS = ("dom.js", "charts.js", "map.js", "bureau.js")
CSV_TABLES = ("summary", "not_counted", "lines", "stops", "payment_lines", "payment_channels", "payment_days")


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}"


def _rows_summary(report: Report) -> tuple[list[str], Iterable[Sequence[Any]]]:
    header = ["indicator", "name_zh", "name_en", "numerator", "denominator", "value_pct", "four_star_target",
              "four_star_met", "five_star_target", "five_star_met", "stars", "available", "period_from",
              "period_to", "notes"]
    rows = [[i.ident, i.name_zh, i.name_en, i.numerator, i.denominator, _pct(i.value), i.four_star.label,
             i.four_star_met, i.five_star.label, i.five_star_met, i.stars, i.available,
             report.period.date_from.isoformat(), report.period.date_to.isoformat(), " | ".join(i.notes)]
            for i in report.indicators]
    return header, rows


def _rows_not_counted(report: Report) -> tuple[list[str], Iterable[Sequence[Any]]]:
    header = ["indicator", "kind", "id", "name", "reason"]
    rows = [[i.ident, n.kind, n.id, n.name, n.reason] for i in report.indicators for n in i.not_counted]
    return header, rows


def _table(report: Report, ident: str, table: str, columns: Sequence[str]) -> tuple[list[str], Iterable[Sequence[Any]]]:
    rows = report.get(ident).tables.get(table, [])
    return list(columns), [[_cell(r.get(c)) for c in columns] for r in rows]


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return round(value, 6)
    return "" if value is None else value


_TABLES: Mapping[str, Callable[[Report], tuple[list[str], Iterable[Sequence[Any]]]]] = {
    "summary": _rows_summary,
    "not_counted": _rows_not_counted,
    "lines": lambda r: _table(r, "2a", "lines", ["route_id", "name", "scheduled_trips", "served_trips", "share",
                                                 "days_scheduled", "days_served", "counts"]),
    "stops": lambda r: _table(r, "2b", "stops", ["stop_id", "name", "urban", "urban_rule", "state", "boards",
                                                 "online_share"]),
    "payment_lines": lambda r: _table(r, "8", "lines", ["line", "route_id", "name", "in_feed", "electronic",
                                                        "boardings", "rate"]),
    "payment_channels": lambda r: _table(r, "8", "channels", ["channel", "name", "electronic", "boardings",
                                                              "share"]),
    "payment_days": lambda r: _table(r, "8", "days", ["date", "electronic", "boardings", "rate"]),
}


def report_csv(report: Report, table: str = "summary") -> str:
    if table not in _TABLES:
        raise ValueError(f"unknown table {table!r}; one of {', '.join(CSV_TABLES)}")
    header, rows = _TABLES[table](report)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def static_text(name: str) -> str:
    return (resources.files("transit.reports") / "static" / "bureau" / name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no "</" can close the element early."""
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/").replace("<!--", "<\\!--")


def report_html(report: Report, trend: Mapping[str, Any] | None, coverage_map: Mapping[str, Any] | None) -> str:
    data = {"report": report.as_json(), "trend": trend, "map": coverage_map}
    shell = static_text("index.html")
    head, _, rest = shell.partition("<!--assets-->")
    _, _, tail = rest.partition("<!--/assets-->")
    scripts = "".join(f"<script>\n{static_text(name)}\n</script>\n" for name in SCRIPTS)
    inline = (f"<style>\n{static_text('bureau.css')}\n</style>\n"
              f'<script id="report-data" type="application/json">{_script_json(data)}</script>\n' + scripts)
    return head + inline + tail
