"""The indicator arithmetic on constructed inputs with known answers (no database)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from transit.reports import (
    Boardings,
    BoardUptime,
    LineService,
    ReportInputs,
    ReportRules,
    StopArea,
    board_coverage,
    build_report,
    electronic_payment_rate,
    electronic_police,
    parse_period,
    realtime_prediction_rate,
    signal_timing,
)
from transit.reports.indicators import Target

NOV = dt.date(2026, 11, 1)
AFTER_NOV = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


def test_targets_are_exact_and_over_means_strictly_over() -> None:
    reach70 = Target(Fraction(7, 10))
    over20 = Target(Fraction(1, 5), strict=True)
    full = Target(Fraction(1))
    assert reach70.met(7, 10) and not reach70.met(69, 100) and reach70.met(700, 1000)
    assert not over20.met(20, 100) and over20.met(21, 100) and not over20.met(1, 5)
    assert full.met(12, 12) and not full.met(11, 12)
    assert not reach70.met(0, 0)
    assert over20.label == "超过20% (> 20%)" and reach70.label == "达到70% (≥ 70%)"


def test_prediction_rate_counts_lines_served_for_enough_of_their_trips() -> None:
    lines = [
        LineService("R1", "1 一路", scheduled=300, served=300, days_scheduled=30, days_served=30),
        # Predictions on 20 of 30 days: 200 of 300 trips, below 90 %.
        LineService("R2", "2 二路", scheduled=300, served=200, days_scheduled=30, days_served=20),
        LineService("R3", "3 三路", scheduled=0, served=0),
        LineService("R4", "4 四路", scheduled=300, served=270, days_scheduled=30, days_served=30),  # exactly 90 %
        LineService("R5", "5 五路", scheduled=120, served=0, days_scheduled=30),
    ]
    result = realtime_prediction_rate(lines, 0.9)
    assert (result.numerator, result.denominator) == (2, 5)
    assert result.value == pytest.approx(0.4)
    assert not result.four_star_met and result.stars == 0
    missing = {n.id: n.reason for n in result.not_counted}
    assert set(missing) == {"R2", "R3", "R5"}
    assert "200 of 300" in missing["R2"] and "66.7%" in missing["R2"] and "20 of 30 service days" in missing["R2"]
    assert "no trips scheduled" in missing["R3"]
    assert "no real-time predictions" in missing["R5"]
    assert [row["counts"] for row in result.tables["lines"]] == [True, False, False, True, False]
    assert realtime_prediction_rate(lines[:1] + lines[3:4], 0.9).stars == 5
    # No record at all of the period (the service was not running): no figure, not 0 %.
    silent = realtime_prediction_rate(lines, 0.9, recorded=False)
    assert silent.value is None and not silent.available and silent.stars == 0 and silent.tables["lines"]


def _stops() -> list[StopArea]:
    return [StopArea("A", "甲站", True), StopArea("B", "乙站", True), StopArea("C", "丙站", True),
            StopArea("D", "丁站", False, "outside"), StopArea("E", "戊站", True)]


def test_board_coverage_counts_urban_stops_with_a_board_that_worked() -> None:
    boards = [
        BoardUptime("BD-A", ("A", "E"), 1.0, "甲站 both directions"),  # one board covering two stops
        BoardUptime("BD-B", ("B",), 0.5),  # offline half the month
        BoardUptime("BD-D", ("D",), 1.0),  # outside the urban boundary
        BoardUptime("BD-X", ("NOPE",), 1.0),
        BoardUptime("BD-B2", ("B",), None),  # registered, never seen online
    ]
    result = board_coverage(_stops(), boards, 0.9)
    assert (result.numerator, result.denominator) == (2, 4)  # A and E of A, B, C, E
    assert result.four_star_met and result.five_star_met and result.stars == 5
    by_id = {(n.kind, n.id): n.reason for n in result.not_counted}
    assert set(by_id) == {("board", "BD-D"), ("board", "BD-X"), ("stop", "B"), ("stop", "C")}
    assert "outside the urban area" in by_id[("board", "BD-D")]
    assert "not in the active feed" in by_id[("board", "BD-X")]
    assert "BD-B online 50.0% of the period" in by_id[("stop", "B")] and "BD-B2 never seen online" in by_id[("stop", "B")]
    assert "no board" in by_id[("stop", "C")]
    states = {row["stop_id"]: row["state"] for row in result.tables["stops"]}
    assert states == {"A": "covered", "B": "board_offline", "C": "no_board", "D": "not_urban", "E": "covered"}


def test_board_coverage_thresholds_at_the_edges() -> None:
    stops = [StopArea(f"S{i}", f"站{i}", True) for i in range(10)]
    one = board_coverage(stops, [BoardUptime("B", ("S0",), 0.9)], 0.9)  # exactly 90 % online counts
    assert (one.numerator, one.denominator) == (1, 10) and one.four_star_met and not one.five_star_met
    two = board_coverage(stops, [BoardUptime("B", ("S0", "S1"), 0.95)], 0.9)
    assert two.value == pytest.approx(0.2) and two.four_star_met and not two.five_star_met  # 20 % is not over 20 %
    three = board_coverage(stops, [BoardUptime("B", ("S0", "S1", "S2"), 0.95)], 0.9)
    assert three.five_star_met
    low = board_coverage(stops, [BoardUptime("B", ("S0",), 0.8999)], 0.9)
    assert low.numerator == 0
    before = board_coverage(stops, [BoardUptime("B", ("S0",), None)], 0.9, registered=False)
    assert before.value is None and any("no board was registered" in n for n in before.notes)


def test_electronic_payment_rate_with_cash_totals_and_free_passes() -> None:
    day = dt.date(2026, 11, 3)
    rows = [
        Boardings(day, "R1", "wechat", 500), Boardings(day, "R1", "alipay", 300),
        Boardings(day, "R1", "cash", 100),  # fare-box total
        Boardings(day, "R2", "local_card", 80), Boardings(day, "R2", "free_pass", 20),
        Boardings(day + dt.timedelta(days=1), "9", "tunion_card", 100),  # named by short name
    ]
    electronic = ("tunion_card", "local_card", "unionpay_nfc", "unionpay_qr", "alipay", "wechat", "mot_qr")
    result = electronic_payment_rate(rows, electronic, {"R1": "1 一路", "R2": "2 二路", "R9": "9 九路"},
                                     {"R1": "1", "R2": "2", "R9": "9"})
    assert (result.numerator, result.denominator) == (980, 1100)
    assert result.four_star_met and not result.five_star_met  # 89.1 %
    channels = {c["channel"]: c for c in result.tables["channels"]}
    assert channels["cash"]["boardings"] == 100 and not channels["cash"]["electronic"]
    assert channels["wechat"]["share"] == pytest.approx(500 / 1100)
    lines = {row["line"]: row for row in result.tables["lines"]}
    assert lines["R1"]["rate"] == pytest.approx(800 / 900) and lines["R2"]["rate"] == pytest.approx(0.8)
    assert lines["9"]["route_id"] == "R9" and lines["9"]["name"] == "9 九路"
    assert [d["boardings"] for d in result.tables["days"]] == [1000, 100]
    missing = {n.id: n.reason for n in result.not_counted}
    assert set(missing) == {"cash", "free_pass"} and "100 boardings (9.1% of all)" in missing["cash"]
    # The bureau decides what counts: free passes as electronic (a swiped concession card).
    widened = electronic_payment_rate(rows, (*electronic, "free_pass"))
    assert widened.numerator == 1000 and widened.five_star_met  # 90.9 % is over 90 %
    assert electronic_payment_rate([], electronic).value is None


def test_signal_indicators_take_the_signals_ratios_against_their_targets() -> None:
    from signals.coverage_ratios import Ratio, Shortfall

    timing = Ratio(7, 9, (Shortfall("X8", "经十路口", "固定配时 fixed-time all day"), Shortfall("X9", "山泉路口", "offline")))
    police = Ratio(9, 9, ())
    t = signal_timing(timing)
    assert (t.numerator, t.denominator, t.four_star_met, t.five_star_met) == (7, 9, True, False)  # 77.8 %
    assert [(n.id, n.name) for n in t.not_counted] == [("X8", "经十路口"), ("X9", "山泉路口")]
    p = electronic_police(police)
    assert p.stars == 5 and p.value == 1.0
    assert electronic_police(Ratio(8, 9, ())).stars == 0  # 88.9 % is below 90 %
    assert electronic_police(Ratio(0, 0, ())).value is None
    missing = signal_timing(None, "signals not installed")
    assert not missing.available and missing.stars == 0 and missing.notes == ("signals not installed",)


def test_the_report_rates_indicator_2_by_its_weaker_part() -> None:
    period = parse_period("2026-11", None, now=AFTER_NOV, timezone="Asia/Shanghai")
    inputs = ReportInputs(
        lines=[LineService("R1", "1", 10, 10), LineService("R2", "2", 10, 10)],
        stops=_stops(), boards=[BoardUptime("BD-A", ("A",), 1.0)],  # 1 of 4 urban stops: 25 %
        boardings=[Boardings(NOV, "R1", "wechat", 80), Boardings(NOV, "R1", "cash", 20)],
    )
    report = build_report(period, inputs, ReportRules())
    assert [i.ident for i in report.indicators] == ["2a", "2b", "7", "8", "30"]
    ratings = {r.number: r for r in report.ratings}
    assert ratings[2].stars == 5 and ratings[2].parts == ("2a", "2b")
    assert ratings[8].stars == 4
    assert not ratings[7].available and not ratings[30].available
    low = build_report(period, ReportInputs(lines=inputs.lines, stops=_stops(), boards=[]), ReportRules())
    assert {r.number: r.stars for r in low.ratings}[2] == 0  # 2a is 100 % but no board works
    body = report.as_json()
    assert body["period"]["from"] == "2026-11-01" and body["period"]["complete"] is True
    assert body["indicators"][1]["five_star"] == {"share": 0.2, "strict": True, "label": "超过20% (> 20%)", "met": True}


def test_a_report_of_the_running_month_says_it_is_not_over() -> None:
    mid = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    period = parse_period(None, None, now=mid, timezone="Asia/Shanghai")
    report = build_report(period, ReportInputs(), ReportRules())
    assert period.kind == "month" and not period.complete
    assert any("not over" in n for n in report.get("8").notes)
