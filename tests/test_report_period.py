"""Report periods: a day, a month, a range; the current month up to now; clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from transit.reports.period import MAX_DAYS, PeriodError, parse_period, previous_months

TZ = "Asia/Shanghai"
NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


@pytest.mark.parametrize(("args", "expect"), [
    (("2026-11", None), ("2026-11-01", "2026-11-30", "month")),
    (("2026-02", "2026-02"), ("2026-02-01", "2026-02-28", "month")),
    (("2026-11-01", "2026-11-30"), ("2026-11-01", "2026-11-30", "month")),
    (("2026-11-03", None), ("2026-11-03", "2026-11-03", "day")),
    (("2026-11-03", "2026-11-03"), ("2026-11-03", "2026-11-03", "day")),
    (("2026-10-15", "2026-11-14"), ("2026-10-15", "2026-11-14", "range")),
    (("2026-09", "2026-10"), ("2026-09-01", "2026-10-31", "range")),
])
def test_periods(args: tuple[str, str | None], expect: tuple[str, str, str]) -> None:
    p = parse_period(*args, now=NOW, timezone=TZ)
    assert (p.date_from.isoformat(), p.date_to.isoformat(), p.kind) == expect


def test_instants_are_local_midnights_and_stop_at_now() -> None:
    p = parse_period(None, None, now=NOW, timezone=TZ, month="2026-12")
    assert p.from_ts == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC).timestamp()
    assert p.to_ts == dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC).timestamp()
    assert p.measured_to_ts == NOW and not p.complete
    day = parse_period(None, None, now=NOW, timezone=TZ, day="2026-11-03")
    assert day.to_ts - day.from_ts == 86400 and day.complete
    assert parse_period(None, None, now=NOW, timezone=TZ).date_from == dt.date(2026, 12, 1)


@pytest.mark.parametrize(("kwargs", "parameter", "words"), [
    ({"date_from": "2026-13", "date_to": None}, "from", "month 13"),
    ({"date_from": "yesterday", "date_to": None}, "from", "YYYY-MM-DD"),
    ({"date_from": None, "date_to": "2026-11-01"}, "from", "required"),
    ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "to", "before"),
    ({"date_from": "2024-01-01", "date_to": "2026-11-01"}, "to", f"{MAX_DAYS} days"),
    ({"date_from": "2027-01", "date_to": None}, "from", "future"),
])
def test_bad_periods_name_the_parameter(kwargs: dict[str, str | None], parameter: str, words: str) -> None:
    with pytest.raises(PeriodError) as info:
        parse_period(kwargs["date_from"], kwargs["date_to"], now=NOW, timezone=TZ)
    assert info.value.parameter == parameter and words in info.value.problem


def test_previous_months_run_oldest_first_across_a_year() -> None:
    months = previous_months(dt.date(2026, 2, 10), 3)
    assert months == [(dt.date(2025, 12, 1), dt.date(2025, 12, 31)), (dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
                      (dt.date(2026, 2, 1), dt.date(2026, 2, 28))]
