"""Accuracy arithmetic (buckets, published windows, MAE) and the live monitor that samples
served predictions and scores them once the bus has arrived."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from transit.prediction.accuracy import (
    BUCKETS,
    Totals,
    bucket_of,
    format_table,
    inside_window,
    summarize,
    table_from_totals,
)
from transit.prediction.monitor import AccuracyMonitor


def test_horizon_buckets_are_half_open_and_stop_at_thirty_minutes() -> None:
    h = np.array([-1.0, 0.0, 179.9, 180.0, 359.0, 360.0, 719.0, 720.0, 1799.0, 1800.0, np.nan])
    assert bucket_of(h).tolist() == [-1, 0, 0, 1, 1, 2, 2, 3, 3, -1, -1]


@pytest.mark.parametrize(("bucket", "early", "late"), [(0, 60, 60), (1, 90, 120), (2, 150, 210), (3, 240, 360)])
def test_published_windows_early_and_late(bucket: int, early: float, late: float) -> None:
    b = np.full(4, bucket)
    # error = actual - predicted: negative is a bus earlier than predicted
    errors = np.array([-early, -early - 1, late, late + 1])
    assert inside_window(b, errors).tolist() == [True, False, True, False]
    assert (BUCKETS[bucket].early_s, BUCKETS[bucket].late_s) == (early, late)


def test_summary_by_bucket_and_line() -> None:
    horizon = np.array([30.0, 100.0, 200.0, 400.0, 800.0, 900.0, 2000.0])
    error = np.array([-70.0, 50.0, 100.0, -160.0, 300.0, 400.0, 5.0])
    routes = np.array(["1", "2", "1", "1", "2", "2", "1"], dtype=object)
    table = summarize(horizon, error, routes)
    b03 = table.bucket("0-3")
    assert b03.n == 2 and b03.mae_s == 60.0 and b03.bias_s == -10.0 and b03.within_share == 0.5
    assert table.bucket("3-6").within_share == 1.0
    assert table.bucket("6-12").within_share == 0.0  # 160 s early is beyond 150 s
    b12 = table.bucket("12-30")
    assert b12.n == 2 and b12.within_share == 0.5 and b12.mae_s == 350.0  # 2000 s is not counted
    assert table.by_route["1"][0].n == 1 and table.by_route["2"][3].n == 2
    as_json = table.as_json()
    assert [b["bucket"] for b in as_json["overall"]] == ["0-3", "3-6", "6-12", "12-30"]
    assert "0-3 min" in format_table([("model", table)])


def test_totals_add_up_across_days_and_lines() -> None:
    rows = [("1", "0-3", Totals(2, 100.0, -20.0, 1)), ("2", "0-3", Totals(3, 60.0, 30.0, 3)),
            ("1", "0-3", Totals(5, 50.0, 10.0, 5))]
    table = table_from_totals(rows)
    overall = table.bucket("0-3")
    assert overall.n == 10 and overall.mae_s == 21.0 and overall.within_share == 0.9
    assert table.by_route["1"][0].n == 7
    assert table.bucket("12-30").n == 0 and table.bucket("12-30").mae_s is None


def test_monitor_samples_served_predictions_and_scores_them_on_arrival() -> None:
    mon = AccuracyMonitor(("R1", "R2"), sample_interval_s=60.0)
    day = dt.date(2026, 3, 2).toordinal()
    keys = np.array([11, 12, 13], dtype=np.int64)
    now = 1000.0
    predicted = np.array([1100.0, 1500.0, 3900.0])  # 100 s, 500 s and 2900 s ahead (the last is too far)
    mon.sample(["v"], np.zeros(3, dtype=np.int64), keys, predicted, np.array([0, 0, 1]), np.full(3, day), now)
    assert mon.pending() == 2
    # sampled again 10 s later: too soon for this vehicle
    mon.sample(["v"], np.zeros(3, dtype=np.int64), keys, predicted, np.array([0, 0, 1]), np.full(3, day), now + 10)
    assert mon.pending() == 2
    mon.observe(np.array([11], dtype=np.int64), np.array([1150.0]))  # 50 s later than predicted
    scored = mon.score(1200.0)
    assert scored is not None and len(scored.actual_ts) == 1
    row = mon.table(dt.date(2026, 3, 2)).bucket("0-3")
    assert row.n == 1 and row.mae_s == 50.0 and row.within_share == 1.0
    assert mon.pending() == 1
    mon.score(1500.0 + 3601.0)  # call 12 never seen arriving: dropped, not scored
    assert mon.pending() == 0 and mon.counters["expired"] == 1
    saved = mon.take_unsaved()
    assert [(d, r, b, t.n) for d, r, b, t in saved] == [(dt.date(2026, 3, 2), "R1", "0-3", 1)]
    assert mon.take_unsaved() == []
