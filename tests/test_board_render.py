"""The pure board renderer: widths, encodings, paging, languages, states, anti-flapping, messages."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from display.render import (
    BoardMemory,
    BoardMessage,
    Layout,
    RenderParams,
    fit_row,
    render_frame,
    select_page,
)
from display.render_lines import BoardLine, LineParams, LineStatus
from display.render_text import board_text, cells, cut, encode_rows, pad, wrap
from transit.core.arrivals import Arrival

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=TZ).timestamp()
PARAMS = RenderParams(LineParams(arriving_s=60.0, stale_s=180.0), "Asia/Shanghai")


def at(h: int, m: int, s: int = 0, day: int = 25) -> float:
    return dt.datetime(2026, 11, day, h, m, s, tzinfo=TZ).timestamp()


def arrival(route: str = "1", headsign: str = "火车站", in_s: float = 300.0, *, entity: str = "E1",
            realtime: bool = True, stops_away: int | None = 3, at_stop: bool = False, fix_ts: float | None = None,
            scheduled_in_s: float | None = None, now: float = NOW, status: str = "scheduled",
            dwell_s: float = 20.0) -> Arrival:
    return Arrival(
        stop_id="S", stop_sequence=4, route_id=route, route_short_name=route, trip_id=f"T-{entity}",
        entity_id=entity, service_date="20261125", direction_id=0, headsign=headsign, headsign_en="Railway Station",
        arrival_ts=now + in_s, departure_ts=now + in_s + dwell_s,
        scheduled_arrival_ts=now + (scheduled_in_s if scheduled_in_s is not None else in_s),
        scheduled_departure_ts=now + (scheduled_in_s if scheduled_in_s is not None else in_s) + 20,
        realtime=realtime, status=status, vehicle_id="V1" if realtime else None,
        last_fix_ts=(fix_ts if fix_ts is not None else now - 5) if realtime else None,
        stops_away=stops_away if realtime else None, at_stop=at_stop,
    )


def line(*arrivals: Arrival, route: str = "1", headsign: str = "火车站", headsign_en: str | None = "Railway Station",
         first_ts: float | None = None, last_ts: float | None = None, next_first_ts: float | None = None) -> BoardLine:
    return BoardLine("S", route, route, headsign, headsign_en, tuple(arrivals), first_ts, last_ts, next_first_ts)


def rows_of(lines: list[BoardLine], layout: Layout, now: float = NOW, messages: tuple[BoardMessage, ...] = (),
            memory: BoardMemory | None = None) -> list[tuple[str, ...]]:
    frame, _ = render_frame(lines, messages, layout, memory, now, PARAMS)
    return list(frame.pages)


# ------------------------------------------------------------------------------------ widths

def test_a_chinese_character_takes_two_cells_and_latin_one() -> None:
    assert cells("1路 火车站") == 1 + 2 + 1 + 6
    assert cells("K1 Railway") == 10
    assert cells("（全）") == 6


def test_cutting_never_splits_a_character_and_padding_keeps_the_exact_width() -> None:
    assert cut("1路火车站", 4) == "1路"  # 1 + 2 = 3 cells; 火 would need cells 4-5
    assert pad("1路火车站", 4) == "1路 "  # the half cell left over becomes a space
    assert cells(pad("明水客运站东广场", 9)) == 9
    for width in range(1, 20):
        assert cells(pad("K9路 明水Bus站", width)) == width


def test_rows_mix_chinese_and_latin_to_exactly_the_board_width() -> None:
    row = fit_row("K301路", "明水客运站东广场 East Square", ("3站 12分",), 32)
    assert cells(row) == 32
    assert row.startswith("K301路 明水客运站东广场")
    assert row.endswith("3站 12分")
    narrow = fit_row("K301路", "明水客运站东广场", ("3站 12分", "12分"), 16)
    assert cells(narrow) == 16
    assert narrow.startswith("K301路 ")
    assert narrow.endswith("12分")  # the shorter form, keeping part of the destination


def test_the_exact_gb2312_bytes_of_a_frame() -> None:
    lines = [line(arrival(in_s=330)), line(arrival("2", "明水", in_s=40, entity="E2"), route="2", headsign="明水")]
    (page,) = rows_of(lines, Layout(rows=2, cols=24))
    data = encode_rows(page, "GB2312")
    assert data == (
        "1路 火车站".encode("gb2312") + b" " * 7 + "3站 5分".encode("gb2312") + b"\n"
        + "2路 明水".encode("gb2312") + b" " * 8 + "即将到站".encode("gb2312") + b"\n"
    )
    # every row is exactly 24 bytes: the controller can place rows by byte count
    assert [len(r) for r in data.split(b"\n")[:-1]] == [24, 24]
    assert data.decode("gb2312").splitlines() == list(page)


def test_characters_outside_gb2312_become_a_full_width_question_mark_without_moving_anything() -> None:
    assert board_text("車站·东", "GB2312") == "？站？东"
    assert board_text("車站·东", "GBK") == "車站·东"  # GBK has both
    lines = [line(arrival(in_s=330), headsign="車站")]
    gb = rows_of(lines, Layout(1, 24, encoding="GB2312"))[0]
    gbk = rows_of(lines, Layout(1, 24, encoding="GBK"))[0]
    assert gb[0].startswith("1路 ？站")
    assert gbk[0].startswith("1路 車站")
    assert len(encode_rows(gb, "GB2312")) == len(encode_rows(gbk, "GBK")) == 25
    utf8 = encode_rows(gbk, "UTF-8")
    assert utf8.decode("utf-8") == gbk[0] + "\n"


def test_control_characters_in_names_do_not_break_the_row() -> None:
    assert board_text("火车\n站\t", "UTF-8") == "火车 站 "


def test_wrap_keeps_latin_words_whole_and_splits_chinese_anywhere() -> None:
    assert wrap("Road works ahead, buses detour", 12) == ["Road works", "ahead, buses", "detour"]
    assert wrap("道路施工临时改道请注意", 8) == ["道路施工", "临时改道", "请注意"]


# ------------------------------------------------------------------------------------ states

def test_each_state_of_a_line() -> None:
    layout = Layout(rows=1, cols=32)
    assert rows_of([line(arrival(in_s=330, stops_away=3))], layout)[0][0].endswith("3站 5分")
    assert rows_of([line(arrival(in_s=45))], layout)[0][0].endswith("即将到站")
    assert rows_of([line(arrival(in_s=0, at_stop=True))], layout)[0][0].endswith("已到站")
    planned = rows_of([line(arrival(in_s=600, realtime=False))], layout)[0][0]
    assert planned.endswith("计划 08:10")  # schedule-based: a clock time, marked
    assert "分" not in planned


def test_a_bus_waiting_at_the_stop_for_its_departure_says_when_it_leaves() -> None:
    # in since 07:58, leaving at 08:10 (the first stop of its trip): riders see both
    waiting = arrival(in_s=-120, at_stop=True, dwell_s=720)
    assert rows_of([line(waiting)], Layout(rows=1, cols=32))[0][0].endswith("已到站 08:10发车")
    assert rows_of([line(waiting)], Layout(rows=1, cols=20))[0][0].endswith("08:10发车")
    english = rows_of([line(waiting)], Layout(rows=2, cols=40, languages="zh+en"))[0][1]
    assert english.rstrip().endswith("At stop, leaves 08:10")
    frame, _ = render_frame([line(waiting)], (), Layout(1, 32), None, NOW, PARAMS)
    assert frame.lines[0].status == LineStatus.AT_STOP and frame.lines[0].departs_ts == at(8, 10)
    # the frame is redrawn by a minute before it leaves, and from then it is just at the stop
    assert frame.valid_until_ts <= at(8, 9)
    last_minute = NOW + 9 * 60 + 30
    assert rows_of([line(arrival(in_s=-120 - 570, at_stop=True, dwell_s=720, now=last_minute))],
                   Layout(rows=1, cols=32), now=last_minute)[0][0].endswith("已到站")


def test_before_service_shows_the_first_bus_and_after_the_last_tomorrows_first() -> None:
    layout = Layout(rows=1, cols=32)
    early = rows_of([line(first_ts=at(6, 0), last_ts=at(22, 30), next_first_ts=at(6, 0, day=26))], layout,
                    now=at(5, 10))
    assert early[0][0].endswith("首班 06:00")
    late = rows_of([line(first_ts=at(6, 0), last_ts=at(22, 30), next_first_ts=at(6, 5, day=26))],
                   Layout(rows=1, cols=40), now=at(23, 0))
    assert late[0][0] == "1路 火车站     末班车已过 明日首班 06:05"
    shorter = rows_of([line(first_ts=at(6, 0), last_ts=at(22, 30), next_first_ts=at(6, 5, day=26))], layout,
                      now=at(23, 0))
    assert shorter[0][0] == "1路 火车站  末班车已过 首班06:05"
    narrow = rows_of([line(first_ts=at(6, 0), last_ts=at(22, 30), next_first_ts=at(6, 5, day=26))],
                     Layout(rows=1, cols=16), now=at(23, 0))
    assert narrow[0][0] == "1路   末班车已过"  # the state outranks a one-glyph destination


def test_cancelled_trips_and_skipped_calls_are_not_shown_as_the_next_bus() -> None:
    rows = rows_of([line(arrival(in_s=120, status="canceled"), arrival(in_s=900, entity="E2"))], Layout(1, 32))
    assert rows[0][0].endswith("15分")


# ------------------------------------------------------------------------------------ paging

def five_lines() -> list[BoardLine]:
    return [line(arrival(str(n), f"终点{n}", 60.0 * n + 130, entity=f"E{n}"), route=str(n), headsign=f"终点{n}")
            for n in range(1, 6)]


def test_more_lines_than_rows_pages_and_the_page_cycles_with_each_poll() -> None:
    layout = Layout(rows=2, cols=24)
    frame, memory = render_frame(five_lines(), (), layout, None, NOW, PARAMS)
    assert len(frame.pages) == 3
    assert frame.pages[0][0].startswith("1路") and frame.pages[0][1].startswith("2路")
    assert frame.pages[2][0].startswith("5路") and frame.pages[2][1] == " " * 24
    shown = []
    t = NOW
    for _ in range(5):
        memory = select_page(memory, len(frame.pages), t, advance=True, min_page_s=5.0)
        shown.append(memory.page)
        t += 10.0
    assert shown == [0, 1, 2, 0, 1]
    # a board retrying straight away does not skip a page
    again = select_page(memory, len(frame.pages), t - 9.0, advance=True, min_page_s=5.0)
    assert again.page == memory.page


def test_a_board_that_does_not_page_shows_the_first_lines_only() -> None:
    frame, _ = render_frame(five_lines(), (), Layout(rows=2, cols=24, paging=False), None, NOW, PARAMS)
    assert len(frame.pages) == 1
    assert frame.pages[0][1].startswith("2路")


def test_english_rows_alternate_with_chinese_rows() -> None:
    pages = rows_of(five_lines()[:2], Layout(rows=4, cols=32, languages="zh+en"))
    assert len(pages) == 1
    zh1, en1, zh2, en2 = pages[0]
    assert zh1.startswith("1路 终点1") and en1.startswith("1 Railway Station")
    assert zh2.startswith("2路 终点2") and en2.startswith("2 Railway Station")
    assert en1.rstrip().endswith("3 min") and zh1.endswith("3分")
    # a three-row board never splits a line's pair across pages
    three = rows_of(five_lines()[:2], Layout(rows=3, cols=32, languages="zh+en"))
    assert len(three) == 2 and three[0][2] == " " * 32
    # a one-row board alternates the languages page by page
    one = rows_of(five_lines()[:1], Layout(rows=1, cols=32, languages="zh+en"))
    assert [p[0][:2] for p in one] == ["1路", "1 "]


# ------------------------------------------------------------------------------------ anti-flapping

def step(lines: list[BoardLine], memory: BoardMemory | None, now: float) -> tuple[str, BoardMemory]:
    frame, memory = render_frame(lines, (), Layout(rows=1, cols=32), memory, now, PARAMS)
    return frame.pages[0][0], memory


def test_minutes_do_not_count_up_by_one_on_prediction_noise() -> None:
    t0 = NOW
    eta = t0 + 5 * 60 + 50  # 5 min 50 s away
    seq = []
    memory = None
    # the prediction wobbles by ±20 s around a minute boundary while time moves on 10 s per poll
    for i, wobble in enumerate([0, 25, -10, 30, 0, 20]):
        now = t0 + 10 * i
        row, memory = step([line(arrival(in_s=eta + wobble - now, now=now, fix_ts=now - 3))], memory, now)
        seq.append(int(row.split()[-1].rstrip("分")))
    assert all(b <= a for a, b in itertools.pairwise(seq)), seq
    # a real delay (two minutes or more) is shown at once
    now = t0 + 70
    row, memory = step([line(arrival(in_s=eta + 150 - now, now=now, fix_ts=now - 3))], memory, now)
    assert row.endswith("7分")


def test_arriving_does_not_flap_back_to_one_minute() -> None:
    row, memory = step([line(arrival(in_s=55))], None, NOW)
    assert row.endswith("即将到站")
    row, memory = step([line(arrival(in_s=70, now=NOW + 10, fix_ts=NOW + 8))], memory, NOW + 10)
    assert row.endswith("即将到站")
    # at the stop, a vehicle status that flickers back does not flip 已到站 to 即将到站
    row, memory = step([line(arrival(in_s=0, at_stop=True, now=NOW + 20))], memory, NOW + 20)
    assert row.endswith("已到站")
    row, memory = step([line(arrival(in_s=5, now=NOW + 30))], memory, NOW + 30)
    assert row.endswith("已到站")


def test_a_vehicle_that_drops_out_for_a_poll_does_not_flash_out_and_back_in() -> None:
    next_bus = arrival(in_s=1500, entity="E2", realtime=False)  # the schedule's next trip
    row, memory = step([line(arrival(in_s=300), next_bus)], None, NOW)
    assert row.endswith("3站 5分")
    # the vehicle vanishes from the data: it keeps counting down from its last prediction
    now = NOW + 10
    row, memory = step([line(arrival(in_s=1490, entity="E2", realtime=False, now=now))], memory, now)
    assert row.endswith("4分"), row
    # and its trip falling back to the schedule (计划) does not flash either
    now = NOW + 20
    sched = arrival(in_s=200, realtime=False, now=now)
    row, memory = step([line(sched, arrival(in_s=1480, entity="E2", realtime=False, now=now))], memory, now)
    assert row.endswith("4分"), row
    # back with live data: no jump
    now = NOW + 30
    row, memory = step([line(arrival(in_s=265, now=now, fix_ts=now - 2))], memory, now)
    assert row.endswith("4分")


def test_a_vehicle_gone_for_longer_than_the_stale_time_gives_way_to_the_schedule() -> None:
    row, memory = step([line(arrival(in_s=600, scheduled_in_s=480))], None, NOW)
    assert row.endswith("10分")
    later = NOW + 200  # more than stale_s after its last fix
    sched = arrival(in_s=480 - 200, realtime=False, now=later)
    row, memory = step([line(sched)], memory, later)
    assert row.endswith("计划 08:08")


def test_a_prediction_older_than_the_stale_time_shows_the_schedule_marked_plan() -> None:
    stale = arrival(in_s=420, scheduled_in_s=300, fix_ts=NOW - 400)
    row, _ = step([line(stale)], None, NOW)
    assert row.endswith("计划 08:05")
    fresh = arrival(in_s=420, scheduled_in_s=300, fix_ts=NOW - 100)
    row, _ = step([line(fresh)], None, NOW)
    assert row.endswith("7分")


def test_a_bus_seen_at_the_stop_that_then_vanishes_has_left() -> None:
    row, memory = step([line(arrival(in_s=0, at_stop=True), arrival(in_s=900, entity="E2"))], None, NOW)
    assert row.endswith("已到站")
    row, memory = step([line(arrival(in_s=890, entity="E2", now=NOW + 10))], memory, NOW + 10)
    assert row.endswith("14分")


def test_a_sooner_live_bus_replaces_a_held_one() -> None:
    row, memory = step([line(arrival(in_s=600))], None, NOW)
    other = arrival(in_s=200, entity="E9", now=NOW + 10)
    row, memory = step([line(other)], memory, NOW + 10)
    assert row.endswith("3分")


# ------------------------------------------------------------------------------------ messages

def test_a_message_takes_the_reserved_last_row_while_it_is_on() -> None:
    message = BoardMessage(7, "道路施工 临时改道", "Road works: detour", at(7, 30), at(9, 0), "all")
    layout = Layout(rows=3, cols=24)
    pages = rows_of(five_lines(), layout, messages=(message,))
    assert len(pages) == 3  # 5 lines on 2 free rows
    assert all(p[2] == pad("道路施工 临时改道", 24) for p in pages)
    before = rows_of(five_lines(), layout, now=at(7, 0), messages=(message,))
    assert len(before) == 2 and before[0][2].startswith("3路")
    after = rows_of(five_lines(), layout, now=at(9, 0), messages=(message,))
    assert all("道路施工" not in r for p in after for r in p)


def test_a_long_message_continues_from_page_to_page_and_english_follows_on_bilingual_boards() -> None:
    message = BoardMessage(8, "因道路施工本站临时取消请到对面站台候车", "Stop closed: use the stop opposite",
                           at(7, 0), at(9, 0), "board", "B1")
    pages = rows_of(five_lines()[:1], Layout(rows=2, cols=16, languages="zh+en"), messages=(message,))
    message_rows = [p[1].rstrip() for p in pages]
    assert message_rows[:3] == ["因道路施工本站临", "时取消请到对面站", "台候车"]
    assert message_rows[3:] == ["Stop closed: use", "the stop", "opposite"]
    zh_only = rows_of(five_lines()[:1], Layout(rows=2, cols=16), messages=(message,))
    assert len(zh_only) == 3


def test_a_page_mode_message_gets_its_own_page_first() -> None:
    message = BoardMessage(9, "暴雨停运", None, at(7, 0), at(9, 0), "route", "1")
    pages = rows_of(five_lines()[:2], Layout(rows=2, cols=16, message_mode="page"), messages=(message,))
    assert pages[0] == (pad("暴雨停运", 16), " " * 16)
    assert pages[1][0].startswith("1路")
    still = rows_of(five_lines()[:2], Layout(rows=2, cols=16, message_mode="page", paging=False),
                    messages=(message,))
    assert still == [(pad("暴雨停运", 16), " " * 16)]


def test_a_board_with_no_lines_says_so() -> None:
    pages = rows_of([], Layout(rows=2, cols=16))
    assert pages == [(pad("暂无公交信息", 16), " " * 16)]


def test_line_status_values_are_what_the_json_reports() -> None:
    frame, _ = render_frame([line(arrival(in_s=45))], (), Layout(1, 24), None, NOW, PARAMS)
    assert frame.lines[0].status == LineStatus.ARRIVING
    assert frame.lines[0].minutes == 0


# ------------------------------------------------------------------------------------ caching


@st.composite
def board_inputs(draw: st.DrawFn) -> tuple[list[BoardLine], list[BoardLine], float]:
    """(lines a moment ago, lines now, now): now, some buses may have dropped out of the data."""
    now = NOW + draw(st.integers(0, 3600))
    before, current = [], []
    for n in range(draw(st.integers(1, 3))):
        arrivals = []
        for k in range(draw(st.integers(0, 3))):
            realtime = draw(st.booleans())
            arrivals.append(arrival(
                str(n), f"终点{n}", draw(st.floats(-40, 1800)), entity=f"E{n}-{k}", realtime=realtime,
                stops_away=draw(st.integers(0, 9)), at_stop=realtime and draw(st.integers(0, 9)) == 0,
                fix_ts=now - draw(st.floats(0, 400)), scheduled_in_s=draw(st.floats(-60, 1800)), now=now))
        arrivals.sort(key=lambda a: a.arrival_ts)
        kept = [a for a in arrivals if not draw(st.integers(0, 3)) == 0]
        span = {"first_ts": now + draw(st.sampled_from([-7200, 600])),
                "last_ts": now + draw(st.sampled_from([-300, 7200])), "next_first_ts": now + 30000}
        before.append(line(*arrivals, route=str(n), headsign=f"终点{n}", **span))
        current.append(line(*kept, route=str(n), headsign=f"终点{n}", **span))
    return before, current, now


@settings(max_examples=200, deadline=None)
@given(board_inputs(), st.floats(0.0, 1.0))
def test_a_frame_stays_right_until_its_valid_until_time(
        inputs: tuple[list[BoardLine], list[BoardLine], float], where: float) -> None:
    """Frames are served from cache until valid_until_ts: rendering again at any moment before it,
    from the same memory, must give the same pages (else a board would show something stale)."""
    before, lines, now = inputs
    layout = Layout(rows=2, cols=32, languages="zh+en")
    message = BoardMessage(1, "临时改道", None, now + 300, now + 900)
    _, memory = render_frame(before, (message,), layout, None, now - 10, PARAMS)  # memory, as in real use
    frame, _ = render_frame(lines, (message,), layout, memory, now, PARAMS)
    assert frame.valid_until_ts >= now
    later = now + where * (frame.valid_until_ts - now) * 0.999
    again, _ = render_frame(lines, (message,), layout, memory, later, PARAMS)
    assert again.pages == frame.pages, (later - now, frame.valid_until_ts - now)
