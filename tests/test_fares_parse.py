"""The fare decoder: every kind of bad row is named with its line, and good rows beside it kept."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.fares.parse import FareLimits, decode_csv, decode_json, decode_json_bytes, parse_time_text
from transit.core.rejection import RejectionKind

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
LIMITS = FareLimits(now=NOW)
HEADER = "transaction_id,time,line,vehicle,stop_id,channel,amount_fen\n"


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


def test_good_rows_are_decoded_with_their_times_dates_and_channels() -> None:
    batch = decode_csv(csv_bytes(
        "T1,2026-11-03T07:15:02+08:00,R1,B1,A,wechat,200",
        "T2,2026-11-03 23:59:59,R1,B1,,支付宝,200",  # local time, Chinese alias, no stop
        "T3,1793635200,R2,B2,C,LOCAL_CARD,180",  # POSIX seconds, upper case
    ), LIMITS)
    assert batch.rejections == () and batch.rows == 3
    rows = batch.transactions.to_pylist()
    assert [r["transaction_id"] for r in rows] == ["T1", "T2", "T3"]
    assert rows[0]["ts"] == dt.datetime(2026, 11, 2, 23, 15, 2, tzinfo=dt.UTC).timestamp()
    assert rows[1]["service_date"] == dt.date(2026, 11, 3)  # 23:59:59 local is still the 3rd
    assert rows[1]["stop_id"] is None and rows[1]["channel"] == "alipay"
    assert rows[2]["channel"] == "local_card" and rows[2]["amount_fen"] == 180
    assert rows[2]["service_date"] == dt.date(2026, 11, 3)  # 1793635200 = 2026-11-03 00:00 +08:00
    assert [r["line"] for r in rows] == [2, 3, 4]


def test_each_bad_row_is_named_by_line_and_kind_and_the_good_rows_are_kept() -> None:
    batch = decode_csv(csv_bytes(
        "T1,2026-11-03T07:15:02+08:00,R1,B1,A,wechat,200",  # line 2: good
        "T2,2026-11-03T07:16:00+08:00,R1,B1,A,bitcoin,200",  # 3: unknown channel
        "T3,yesterday,R1,B1,A,cash,200",  # 4: bad time
        "T4,2026-11-03T07:17:00+08:00,R1,B1,A,cash,-5",  # 5: negative amount
        "T5,2026-11-03T07:17:00+08:00,R1,B1,A,cash,2.5",  # 6: not whole fen
        ",2026-11-03T07:17:00+08:00,R1,B1,A,cash,200",  # 7: no id
        "T7,2026-11-03T07:17:00+08:00,,B1,A,cash,200",  # 8: no line
        "T8,2027-01-01T00:00:00+08:00,R1,B1,A,cash,200",  # 9: future
        "T9,1970-01-02T00:00:00+08:00,R1,B1,A,cash,200",  # 10: clock reset
        "T10,2026-11-03T07:17:00+08:00,R1,B1,A,wechat,20000",  # 11: over the limit
        "T11,2026-11-03T07:18:00+08:00,R1,B1,A,alipay,200",  # 12: good
    ), LIMITS)
    assert [r["transaction_id"] for r in batch.transactions.to_pylist()] == ["T1", "T11"]
    found = {r.index: (r.kind, r.detail) for r in batch.rejections}
    assert found[3][0] == RejectionKind.BAD_VALUE and "unknown channel 'bitcoin'" in found[3][1]
    assert found[4][0] == RejectionKind.MALFORMED and "'yesterday'" in found[4][1]
    assert found[5] == (RejectionKind.BAD_VALUE, "amount_fen -5 is negative")
    assert found[6][0] == RejectionKind.MALFORMED and "whole number" in found[6][1]
    assert found[7] == (RejectionKind.MISSING_FIELD, "transaction_id is empty")
    assert found[8] == (RejectionKind.MISSING_FIELD, "line is empty")
    assert found[9][0] == RejectionKind.FUTURE_TIMESTAMP
    assert found[10][0] == RejectionKind.BAD_VALUE and "before 2000" in found[10][1]
    assert found[11][0] == RejectionKind.BAD_VALUE and "over the limit" in found[11][1]
    assert set(found) == set(range(3, 12))
    assert batch.rows == 11 and batch.rejected == 9
    assert batch.rejected_by_kind == {"bad_value": 4, "malformed": 2, "missing_field": 2, "future_timestamp": 1}


def test_ragged_rows_and_blank_lines_keep_true_line_numbers() -> None:
    batch = decode_csv(csv_bytes(
        "T1,2026-11-03T07:15:02+08:00,R1,B1,A,wechat,200",
        "",
        "T2,2026-11-03T07:15:02+08:00,R1,B1,wechat,200",  # line 4: a field missing
        '"T3","2026-11-03T07:15:02+08:00","R1","B1","A","cash",200',
        "T4,2026/11/3 7:05:00,R1,B1,A,cash,bad",  # line 6: bad amount (time format is fine)
    ), LIMITS)
    assert [r["transaction_id"] for r in batch.transactions.to_pylist()] == ["T1", "T3"]
    assert [(r.index, r.kind) for r in batch.rejections] == [(4, RejectionKind.MALFORMED), (6, RejectionKind.MALFORMED)]
    assert "expected 7 fields" in batch.rejections[0].detail


def test_chunks_number_lines_from_their_place_in_the_file() -> None:
    batch = decode_csv(csv_bytes("T9,2026-11-03T07:15:02+08:00,R1,B1,A,nope,200"), LIMITS, first_line=1000)
    assert batch.rejections[0].index == 1001


def test_export_formats_seen_in_the_wild() -> None:
    tz = LIMITS.timezone
    import zoneinfo

    z = zoneinfo.ZoneInfo(tz)
    expect = dt.datetime(2026, 11, 3, 7, 5, tzinfo=z).timestamp()
    assert parse_time_text("2026/11/3 7:05:00", z) == expect
    assert parse_time_text("2026-11-03 07:05", z) == expect
    assert parse_time_text("2026-11-02T23:05:00Z", z) == expect
    assert parse_time_text("2026-11-03T07:05:00.000+0800", z) == expect
    assert parse_time_text("3 Nov", z) is None
    batch = decode_csv(csv_bytes("T1,2026/11/3 7:05:00,R1,B1,A,微信,200", "T2,2026-11-03 07:05,R1,B1,A,现金,0"), LIMITS)
    assert batch.rejections == ()
    assert batch.transactions.column("ts").to_pylist() == [expect, expect]


def test_gbk_exports_and_byte_order_marks_are_read() -> None:
    text = "\ufeff" + HEADER + "T1,2026-11-03T07:15:02+08:00,一路,鲁A123,甲站,微信,200\n"
    batch = decode_csv(text.encode("gb18030"), LIMITS)
    assert batch.rejections == ()
    row = batch.transactions.to_pylist()[0]
    assert (row["route_id"], row["vehicle_id"], row["stop_id"], row["channel"]) == ("一路", "鲁A123", "甲站", "wechat")


def test_header_problems_reject_the_whole_batch_with_a_reason() -> None:
    batch = decode_csv(b"id,when,what\n1,2,3\n", LIMITS)
    assert batch.empty and batch.rows == 0
    assert batch.rejections[0].kind == RejectionKind.MISSING_FIELD and "transaction_id" in batch.rejections[0].detail
    batch = decode_csv(b"transaction_id,time,line,channel\n1,2,3,4\n", LIMITS)
    assert "lacks vehicle, amount_fen" in batch.rejections[0].detail


def test_aggregate_records() -> None:
    batch = decode_csv(csv_bytes(
        "R1,B1,2026-11-03,cash,57,fare_box",
        "R1,B1,20261104,现金,12,",
        "R1,B2,2026-11-31,cash,3,fare_box",  # line 4: no such date
        "R1,B2,2026-11-05,cash,-1,fare_box",  # 5: negative
        "R1,B2,2026-12-06,cash,4,fare_box",  # 6: not over yet
        "R1,B2,2026-11-05,gold,4,fare_box",  # 7: channel
        header="line,vehicle,date,channel,boardings,source\n"), LIMITS)
    rows = batch.aggregates.to_pylist()
    assert [(r["service_date"], r["boardings"], r["source"]) for r in rows] == [
        (dt.date(2026, 11, 3), 57, "fare_box"), (dt.date(2026, 11, 4), 12, None)]
    assert [(r.index, r.kind) for r in batch.rejections] == [
        (4, RejectionKind.MALFORMED), (5, RejectionKind.BAD_VALUE), (6, RejectionKind.FUTURE_TIMESTAMP),
        (7, RejectionKind.BAD_VALUE)]


def test_json_lists_objects_and_mixed_records() -> None:
    body = [
        {"transaction_id": "J1", "time": "2026-11-03T07:15:02+08:00", "line": "R1", "vehicle": "B1",
         "channel": "mot_qr", "amount_fen": 200},
        {"transaction_id": "J2", "time": 1793635200, "route_id": "R1", "vehicle_id": "B1", "channel": "cash",
         "amount_fen": -1},
        {"line": "R1", "vehicle": "B1", "date": "2026-11-03", "channel": "cash", "boardings": 40},
        "not an object",
    ]
    batch = decode_json(body, LIMITS)
    assert batch.transactions.column("transaction_id").to_pylist() == ["J1"]
    assert batch.aggregates.column("boardings").to_pylist() == [40]
    assert {(r.index, r.kind) for r in batch.rejections} == {(1, RejectionKind.BAD_VALUE), (3, RejectionKind.MALFORMED)}
    wrapped = decode_json({"transactions": body[:1], "aggregates": body[2:3]}, LIMITS)
    assert wrapped.transactions.num_rows == 1 and wrapped.aggregates.num_rows == 1 and wrapped.rejected == 0
    broken = decode_json_bytes(b"{not json", LIMITS)
    assert broken.empty and broken.rejections[0].kind == RejectionKind.MALFORMED


def test_only_a_limited_number_of_rejections_are_described_but_all_are_counted() -> None:
    rows = [f"T{i},2026-11-03T07:15:02+08:00,R1,B1,A,nope,200" for i in range(50)]
    batch = decode_csv(csv_bytes(*rows), FareLimits(now=NOW, max_reported=10))
    assert len(batch.rejections) == 10 and batch.rejected == 50


_cell = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_cell, min_size=5, max_size=9), max_size=12))
def test_arbitrary_rows_never_crash_and_every_row_is_kept_or_rejected(rows: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["transaction_id", "time", "line", "vehicle", "stop_id", "channel", "amount_fen"])
    writer.writerows(rows)
    batch = decode_csv(out.getvalue().encode(), LIMITS)
    kept = batch.transactions.num_rows
    assert kept + batch.rejected == batch.rows
    assert batch.rows <= len(rows)
    assert np.all(np.diff(batch.transactions.column("line").to_numpy()) > 0) if kept > 1 else True


@settings(max_examples=40, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12))
def test_arbitrary_json_never_crashes(body: object) -> None:
    batch = decode_json_bytes(json.dumps(body).encode(), LIMITS)
    assert batch.transactions.num_rows + batch.aggregates.num_rows + batch.rejected >= min(batch.rows, 1) or batch.rows == 0
