"""The bundled demo network: eight made-up bus lines in Zhangqiu's Mingshui old-town area.

Regenerate the shipped files (deterministic: the same code writes byte-identical files)::

    .venv/bin/python -m transit.demo.make_network            # writes transit/demo/network/*.txt
    .venv/bin/python -m transit.demo.make_network --out DIR  # somewhere else

The streets, stops and lines are invented but laid out plausibly around 36.68–36.75 N,
117.50–117.57 E: a grid of avenues (百脉泉大街, 绣水大街, 双山大街 north–south; 山泉路, 汇泉路,
明水路, 唐王山路, 经十东路 east–west), a winding river road along the 绣源河, and the one-way lanes
around 明水古城.  What the network exercises:

- 1路 章丘站—山东大学(章丘): the trunk line, 8-minute weekday peaks.
- 2路 女郎山—绣源河: detours round the old town in both directions, so the hub stop 明水古城 is
  called twice in one trip (a repeated stop, on a street the bus drives along twice).
- 3路 章丘汽车站—双山街道, 5路 章丘站—章丘区政府, 7路 女郎山—山东大学(章丘) on the fast 经十东路,
  8路 绣源河—章丘站 on the curving river road.
- 4路 环线: a loop from 章丘汽车站, clockwise and anticlockwise.
- 游1 章丘站—明水古城: a tourist shuttle published with frequencies.txt (headway based).

Weekday (WD) and weekend (WE) timetables differ in headways; first buses leave about 06:00,
last buses leave between 21:00 and 22:00.  The fixed-date public holidays (1 January, 1–5 May, 1–7
October) run the weekend timetable; make-up working days are not modelled.  Stop names are
Chinese with English in translations.txt (stops.stop_name, routes.route_long_name,
trips.trip_headsign, agency.agency_name).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from transit.demo.gtfs_builder import Feed, Hub, Line, Network, Profile, Service, StopSite, build_feed
from transit.demo.roads import RoadGraph
from transit.schedule.geometry import LocalProjection

NETWORK_DIR = Path(__file__).resolve().parent / "network"
CENTRE = (36.715, 117.535)

_NODES = {
    "RS": (300, 3300), "CN2": (0, 2600), "W1N2": (-1300, 2620), "E1N2": (1300, 2580), "E2N2": (2450, 2600),
    "W1N1": (-1300, 1200), "CN1": (0, 1200), "E1N1": (1300, 1180), "E2N1": (2580, 1200),
    "W2M": (-2600, 30), "W1M": (-1300, 0), "K": (-1050, 0), "J": (-650, 0), "CM": (0, 0), "E1M": (1300, -20),
    "E2M": (2480, 0), "JN": (-650, 650), "KN": (-1050, 650), "NLS": (-2900, -650), "XYH": (2850, 220),
    "W2S1": (-2600, -1300), "W1S1": (-1300, -1300), "GOV": (-620, -1300), "CS1": (0, -1300),
    "E1S1": (1300, -1320), "SS": (1900, -1850),
    "W2S2": (-2600, -3000), "W1S2": (-1300, -3020), "CS2": (0, -3000), "E1S2": (1300, -2980), "SDU": (2250, -3400),
}


def _graph() -> RoadGraph:
    g = RoadGraph()
    for name, (x, y) in _NODES.items():
        g.node(name, x, y)
    g.road("站前街", ["RS", "CN2"], speed_kmh=18, bend_m=60)
    g.road("百脉泉大街", ["CN2", "CN1", "CM", "CS1", "CS2"], speed_kmh=26, bend_m=[15, -10, 12, -20], wiggle_m=4)
    g.road("山泉路", ["W1N2", "CN2", "E1N2", "E2N2"], speed_kmh=30, bend_m=[20, -15, 35], wiggle_m=5)
    g.road("汇泉路", ["W1N1", "CN1", "E1N1"], speed_kmh=26, bend_m=[-12, 18], wiggle_m=3)
    g.road("明水路", ["W2M", "W1M", "K", "J", "CM", "E1M", "E2M"], speed_kmh=24, bend_m=[25, 0, 0, 5, -15, 20],
           wiggle_m=3)
    g.road("东关街", ["J", "JN"], speed_kmh=15, bend_m=8)
    g.road("北关街", ["JN", "KN"], speed_kmh=15, bend_m=-6)
    g.road("西关街", ["KN", "K"], speed_kmh=15, bend_m=10)
    g.road("泉城路", ["CN1", "JN"], speed_kmh=22, bend_m=40)
    g.road("唐王山路", ["W1S1", "GOV", "CS1", "E1S1"], speed_kmh=26, bend_m=[-10, 8, 25], wiggle_m=3)
    g.road("绣水大街", ["W1N2", "W1N1", "W1M", "W1S1"], speed_kmh=24, bend_m=[-20, 10, -15], wiggle_m=4)
    g.road("双山大街", ["E1N1", "E1M", "E1S1"], speed_kmh=26, bend_m=[12, -18], wiggle_m=4)
    g.road("双山北路", ["E1S1", "SS"], speed_kmh=24, bend_m=40)
    g.road("滨河路", ["E2M", "E2N1", "E2N2"], speed_kmh=28, bend_m=[80, -120], wiggle_m=25)
    g.road("绣源河公园路", ["E2M", "XYH"], speed_kmh=20, bend_m=30)
    g.road("女郎山路", ["W2M", "NLS", "W2S1"], speed_kmh=24, bend_m=[-60, -40], wiggle_m=6)
    g.road("女郎山南路", ["W2S1", "W2S2"], speed_kmh=28, bend_m=25, wiggle_m=6)
    g.road("经十东路", ["W2S2", "W1S2", "CS2", "E1S2"], speed_kmh=36, bend_m=[10, -8, 12])
    g.road("大学路", ["E1S2", "SDU"], speed_kmh=24, bend_m=-50)
    return g


_SITES = [
    # number, edge (as the road defines it), fraction, name, English, busy
    (1, ("RS", "CN2"), 0.5, "站前街", "Zhanqian Street", 0.5),
    (2, ("CN2", "CN1"), 0.3, "章丘四中", "No. 4 Middle School", 0.6),
    (3, ("CN2", "CN1"), 0.72, "眼明泉", "Yanming Spring", 0.5),
    (4, ("CN1", "CM"), 0.35, "银座商城", "Yinzuo Mall", 0.9),
    (5, ("CN1", "CM"), 0.75, "区人民医院", "District People's Hospital", 0.9),
    (6, ("CM", "CS1"), 0.4, "东岭小区", "Dongling Residential Area", 0.5),
    (7, ("CM", "CS1"), 0.78, "实验中学", "Experimental Middle School", 0.6),
    (8, ("CS1", "CS2"), 0.3, "清照路口", "Qingzhao Road Junction", 0.3),
    (9, ("CS1", "CS2"), 0.7, "开发区管委会", "Development Zone Office", 0.4),
    (10, ("CS2", "E1S2"), 0.5, "桃花山", "Taohua Hill", 0.2),
    (11, ("E1S2", "SDU"), 0.5, "大学城", "University Town", 0.6),
    (12, ("W2M", "NLS"), 0.5, "龙山小区", "Longshan Residential Area", 0.4),
    (13, ("W2M", "W1M"), 0.3, "明水路西口", "Mingshui Road West", 0.3),
    (14, ("W2M", "W1M"), 0.72, "绣水花园", "Xiushui Garden", 0.5),
    (15, ("J", "JN"), 0.5, "百脉泉", "Baimai Spring", 1.0),
    (16, ("JN", "KN"), 0.5, "明水古城北门", "Old Town North Gate", 0.7),
    (17, ("KN", "K"), 0.5, "清照园", "Qingzhao Garden", 0.7),
    (18, ("J", "CM"), 0.5, "明水古城东门", "Old Town East Gate", 0.8),
    (19, ("CM", "E1M"), 0.3, "章丘宾馆", "Zhangqiu Hotel", 0.4),
    (20, ("CM", "E1M"), 0.72, "文化中心", "Culture Centre", 0.6),
    (21, ("E1M", "E2M"), 0.55, "绣源河大桥", "Xiuyuan River Bridge", 0.3),
    (22, ("W1N1", "CN1"), 0.35, "汇泉广场", "Huiquan Square", 0.8),
    (23, ("W1N1", "CN1"), 0.75, "章丘一中", "Zhangqiu No. 1 High School", 0.7),
    (24, ("CN1", "E1N1"), 0.4, "体育中心", "Sports Centre", 0.5),
    (25, ("CN1", "E1N1"), 0.8, "汇泉东苑", "Huiquan East Garden", 0.4),
    (26, ("E1N1", "E1M"), 0.5, "万达广场", "Wanda Plaza", 0.9),
    (27, ("E1M", "E1S1"), 0.4, "双山小学", "Shuangshan Primary School", 0.5),
    (28, ("E1M", "E1S1"), 0.82, "唐王山路口", "Tangwangshan Road Junction", 0.4),
    (29, ("E1S1", "SS"), 0.5, "双山北路", "Shuangshan North Road", 0.4),
    (30, ("CS1", "E1S1"), 0.5, "市民中心", "Citizen Service Centre", 0.6),
    (31, ("W1S1", "GOV"), 0.5, "章丘公园", "Zhangqiu Park", 0.5),
    (32, ("W1M", "W1S1"), 0.4, "中医医院", "TCM Hospital", 0.6),
    (33, ("W1M", "W1S1"), 0.8, "绣水市场", "Xiushui Market", 0.5),
    (34, ("W1N1", "W1M"), 0.5, "新华书店", "Xinhua Bookstore", 0.6),
    (35, ("W1N2", "W1N1"), 0.35, "北关", "Beiguan", 0.4),
    (36, ("W1N2", "W1N1"), 0.75, "山泉小区", "Shanquan Residential Area", 0.4),
    (37, ("W1N2", "CN2"), 0.5, "北山公园", "Beishan Park", 0.3),
    (38, ("E2M", "E2N1"), 0.5, "绣源河湿地", "Xiuyuan River Wetland", 0.3),
    (39, ("E2N1", "E2N2"), 0.4, "滨河花园", "Riverside Garden", 0.4),
    (40, ("E2N1", "E2N2"), 0.8, "河东村", "Hedong Village", 0.2),
    (41, ("E1N2", "E2N2"), 0.5, "东山小区", "Dongshan Residential Area", 0.3),
    (42, ("CN2", "E1N2"), 0.5, "枣园", "Zaoyuan", 0.4),
    (43, ("NLS", "W2S1"), 0.5, "女郎山南", "Nulangshan South", 0.2),
    (44, ("W2S1", "W2S2"), 0.4, "西关", "Xiguan", 0.3),
    (45, ("W2S1", "W2S2"), 0.8, "官庄", "Guanzhuang", 0.2),
    (46, ("W2S2", "W1S2"), 0.5, "圣井", "Shengjing", 0.3),
    (47, ("W1S2", "CS2"), 0.5, "汽车城", "Auto City", 0.3),
    (48, ("CN1", "JN"), 0.5, "梅花泉", "Meihua Spring", 0.6),
]

_HUBS = [
    Hub("RS", "T01", "章丘站", "Zhangqiu Railway Station", 1.0),
    Hub("SDU", "T02", "山东大学(章丘)", "Shandong University (Zhangqiu Campus)", 0.9),
    Hub("NLS", "T03", "女郎山", "Nulangshan", 0.6),
    Hub("XYH", "T04", "绣源河", "Xiuyuan River", 0.6),
    Hub("J", "T05", "明水古城", "Mingshui Old Town", 1.0),
    Hub("W1N1", "T06", "章丘汽车站", "Zhangqiu Bus Station", 1.0),
    Hub("SS", "T07", "双山街道", "Shuangshan Subdistrict", 0.7),
    Hub("GOV", "T08", "章丘区政府", "Zhangqiu District Government", 0.8),
]


def _wd(peak: int, base: int, evening: int, last: str, first: str = "06:00") -> Profile:
    return Profile(((first, base), ("07:00", peak), ("09:00", base), ("17:00", peak), ("19:00", evening)), last)


def _we(base: int, last: str, evening: int | None = None) -> Profile:
    periods: tuple[tuple[str, int], ...] = (("06:30", base),)
    if evening:
        periods += (("19:00", evening),)
    return Profile(periods, last)


_LINES = [
    Line("1", "1", "章丘站—山东大学(章丘)", "Zhangqiu Railway Station - Shandong University (Zhangqiu Campus)",
         "E60012", ("RS", "CN2", "CN1", "CM", "CS1", "CS2", "E1S2", "SDU"), frozenset({"RS", "SDU"}),
         {"WD": _wd(8, 12, 15, "22:00"), "WE": _we(12, "21:30", 15)}),
    Line("2", "2", "女郎山—绣源河", "Nulangshan - Xiuyuan River", "0068B7",
         ("NLS", "W2M", "W1M", "K", "J", "JN", "KN", "K", "J", "CM", "E1M", "E2M", "XYH"),
         frozenset({"NLS", "J", "XYH"}),
         {"WD": _wd(10, 15, 20, "21:30"), "WE": _we(15, "21:00", 20)}),
    Line("3", "3", "章丘汽车站—双山街道", "Zhangqiu Bus Station - Shuangshan Subdistrict", "009944",
         ("W1N1", "CN1", "E1N1", "E1M", "E1S1", "SS"), frozenset({"W1N1", "SS"}),
         {"WD": _wd(12, 15, 20, "21:30", first="06:10"), "WE": _we(20, "21:00")}),
    Line("4", "4", "环线(章丘汽车站)", "Loop line (Zhangqiu Bus Station)", "F39800",
         ("W1N1", "CN1", "E1N1", "E1M", "E1S1", "CS1", "GOV", "W1S1", "W1M", "W1N1"), frozenset({"W1N1", "GOV"}),
         {"WD": _wd(15, 20, 30, "21:30"), "WE": _we(20, "21:30", 30)}, loop=True, dir1_offset_min=8),
    Line("5", "5", "章丘站—章丘区政府", "Zhangqiu Railway Station - Zhangqiu District Government", "8F2C8E",
         ("RS", "CN2", "W1N2", "W1N1", "W1M", "W1S1", "GOV"), frozenset({"RS", "W1N1", "GOV"}),
         {"WD": _wd(15, 20, 30, "21:30"), "WE": _we(25, "21:00")}),
    Line("7", "7", "女郎山—山东大学(章丘)", "Nulangshan - Shandong University (Zhangqiu Campus)", "00A0E9",
         ("NLS", "W2S1", "W2S2", "W1S2", "CS2", "E1S2", "SDU"), frozenset({"NLS", "SDU"}),
         {"WD": _wd(15, 20, 30, "21:00"), "WE": _we(30, "21:00")}),
    Line("8", "8", "绣源河—章丘站", "Xiuyuan River - Zhangqiu Railway Station", "7A5230",
         ("XYH", "E2M", "E2N1", "E2N2", "E1N2", "CN2", "RS"), frozenset({"XYH", "RS"}),
         {"WD": _wd(15, 25, 30, "21:30"), "WE": _we(25, "21:30")}),
    Line("Y1", "游1", "章丘站—明水古城(旅游专线)", "Zhangqiu Railway Station - Mingshui Old Town (tourist line)",
         "D4145A", ("RS", "CN2", "CN1", "JN", "J"), frozenset({"RS", "J"}),
         {"WD": Profile((("08:00", 20),), "18:00"), "WE": Profile((("07:30", 10), ("17:00", 15)), "19:00")},
         frequency=True, dir1_offset_min=10),
]

FIRST_DAY = dt.date(2025, 1, 1)
LAST_DAY = dt.date(2028, 12, 31)


def _holidays() -> list[dt.date]:
    days: list[dt.date] = []
    for year in range(FIRST_DAY.year, LAST_DAY.year + 1):
        days.append(dt.date(year, 1, 1))
        days += [dt.date(year, 5, d) for d in range(1, 6)]
        days += [dt.date(year, 10, d) for d in range(1, 8)]
    return days


def _services() -> list[Service]:
    weekday_holidays = tuple(d for d in _holidays() if d.weekday() < 5)
    return [
        Service("WD", (1, 1, 1, 1, 1, 0, 0), FIRST_DAY, LAST_DAY, removed=weekday_holidays,
                slowdown=(("00:00", 0.95), ("07:00", 1.3), ("09:00", 1.05), ("11:30", 1.12), ("13:30", 1.05),
                          ("17:00", 1.3), ("19:00", 1.0), ("20:30", 0.92))),
        Service("WE", (0, 0, 0, 0, 0, 1, 1), FIRST_DAY, LAST_DAY, added=weekday_holidays,
                slowdown=(("00:00", 0.95), ("09:30", 1.12), ("18:30", 1.0), ("20:30", 0.92))),
    ]


def zhangqiu_network() -> Network:
    return Network(
        agency_id="ZQGJ", agency_name="章丘公交(演示)", agency_name_en="Zhangqiu Bus (demo)",
        agency_url="https://zhangqiu-demo.example", timezone="Asia/Shanghai", lang="zh",
        projection=LocalProjection(*CENTRE), graph=_graph(),
        sites=[StopSite(n, e, f, name, en, busy) for n, e, f, name, en, busy in _SITES],
        hubs=list(_HUBS), lines=list(_LINES), services=_services(), feed_version="zhangqiu-demo-1",
    )


def build() -> Feed:
    return build_feed(zhangqiu_network())


def write(folder: Path, feed: Feed | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (feed or build()).texts().items():
        path = folder / name
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the bundled Zhangqiu demo GTFS network.")
    parser.add_argument("--out", type=Path, default=NETWORK_DIR, help=f"output folder (default {NETWORK_DIR})")
    args = parser.parse_args(argv)
    feed = build()
    for path in write(args.out, feed):
        print(f"{path}  {len(feed.files[path.name][1]):>6} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
