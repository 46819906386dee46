"""The four indicators in the bureau's words (the attachment to the Zhangqiu new-type smart city
opinions of 2 July 2020), their targets, and how this service measures each.

Kept as data so that the report, the dashboard and docs/indicators.md say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from transit.reports.indicators import Indicator, Target, over, pct


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    number: int
    part: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    formula_zh: str
    formula_en: str
    four_star: Target
    five_star: Target
    measured_en: str

    def template(self) -> Indicator:
        return Indicator(key=self.key, number=self.number, part=self.part, name_zh=self.name_zh,
                         name_en=self.name_en, unit_zh=self.unit_zh, unit_en=self.unit_en, numerator=0,
                         denominator=0, four_star=self.four_star, five_star=self.five_star)


REALTIME_PREDICTION = Definition(
    key="realtime_prediction_rate", number=2, part="a",
    name_zh="公共汽电车来车信息实时预报率", name_en="Real-time arrival prediction rate",
    unit_zh="条线路", unit_en="lines",
    formula_zh="公共汽电车来车信息实时预报率=通过网站、手机实现来车信息实时预报服务的公共汽电车线路数/区域内公共汽电车线路总数",
    formula_en="bus lines whose next-bus arrival is predicted in real time over the web or phone / all bus "
               "lines in the area",
    four_star=pct(0.70), five_star=pct(0.80),
    measured_en="A line counts for the period when real-time predictions (from the vehicles' positions, "
                "not the timetable) were actually served for at least reports.realtime_trip_share "
                "(default 90%) of its scheduled trips in the period, as recorded by the tracker in "
                "served_trips. The denominator is every line (route) of the active GTFS feed. Trips "
                "scheduled after the moment the report is made are not counted.",
)

BOARD_COVERAGE = Definition(
    key="board_coverage", number=2, part="b",
    name_zh="公交电子站牌覆盖率", name_en="Electronic stop board coverage",
    unit_zh="个城区站点", unit_en="urban stops",
    formula_zh="公交电子站牌覆盖率=城区拥有通过信息屏、LED站牌形式实现公交车到站信息实时发送的“电子站牌”综合计数/城区公交站点数",
    formula_en="urban stops with an electronic stop board (screen or LED) showing bus arrivals in real time "
               "/ all urban bus stops",
    four_star=pct(0.10), five_star=over(0.20),
    measured_en="An urban stop counts when at least one board serving it was online (polling the service) "
                "for at least reports.board_online_share (default 90%) of the period. Urban stops are the "
                "stops of the active feed inside the configured urban boundary, plus stops an operator "
                "flagged urban, minus stops flagged not urban. With neither a boundary nor flags, every "
                "stop is taken as urban and the report says so.",
)

SIGNAL_TIMING = Definition(
    key="realtime_signal_timing", number=7, part="",
    name_zh="路口实时信号配时系统比例", name_en="Intersections with real-time signal timing",
    unit_zh="个重要路口", unit_en="key intersections",
    formula_zh="交通路口实时信号配时系统比例=配置实时信号配时系统的交通路口数/区域路口总数。该指标统计城市重要路口,不包含支路路口。",
    formula_en="intersections with a real-time signal timing system / all intersections; counts the city's "
               "key intersections, not branch-road junctions",
    four_star=pct(0.60), five_star=over(0.80),
    measured_en="From the controllers' own data (status messages and Indiana high-resolution events): a key "
                "intersection counts when its controller was online, in a real-time mode, and its timing "
                "visibly responded, on the days required by the signal settings. Computed by the signals "
                "package (signals.coverage).",
)

ELECTRONIC_PAYMENT = Definition(
    key="electronic_payment_rate", number=8, part="",
    name_zh="公共交通电子支付使用率", name_en="Electronic payment rate",
    unit_zh="人次", unit_en="boardings",
    formula_zh="公共交通乘车电子支付使用率=使用电子支付的出行人次/城区公共交通出行总人次。电子支付包括一卡通、移动支付、近场通信(NFC)支付等方式。",
    formula_en="trips paid electronically (transit card, mobile payment, NFC) / all urban public transport "
               "trips",
    four_star=pct(0.75), five_star=over(0.90),
    measured_en="Boardings from the fare collection system: individual transactions, plus aggregate totals "
                "(fare boxes, passenger counters) for what has no transaction, usually cash. Electronic "
                "channels are fares.electronic_channels (default: T-Union and local cards, UnionPay NFC and "
                "QR, Alipay, WeChat, the MOT QR code); cash and free passes count in the denominator only. "
                "For a vehicle, day and channel with both transactions and an aggregate total, the larger "
                "counts, so nothing is counted twice.",
)

ELECTRONIC_POLICE = Definition(
    key="electronic_police_coverage", number=30, part="",
    name_zh="电子警察监控点覆盖率", name_en="Electronic police coverage",
    unit_zh="个重要路口", unit_en="key intersections",
    formula_zh="电子警察监控点覆盖率=区域电子警察监控点覆盖路口数/区域路口总数。该指标统计城市重要路口,不包含支路路口。",
    formula_en="intersections covered by electronic police cameras / all intersections; counts the city's "
               "key intersections, not branch-road junctions",
    four_star=pct(0.90), five_star=pct(1.00),
    measured_en="A key intersection counts when its electronic-police cameras reported (heartbeats or "
                "capture counts) on enough days of the period, per the signal settings. Computed by the "
                "signals package (signals.coverage).",
)

DEFINITIONS: tuple[Definition, ...] = (
    REALTIME_PREDICTION, BOARD_COVERAGE, SIGNAL_TIMING, ELECTRONIC_PAYMENT, ELECTRONIC_POLICE,
)

#: The policy's names of the rated indicators (indicator 2 has two parts).
RATED_NAMES: dict[int, tuple[str, str]] = {
    2: ("公共交通来车实时预报率", "Real-time arrival information"),
    7: (SIGNAL_TIMING.name_zh, SIGNAL_TIMING.name_en),
    8: (ELECTRONIC_PAYMENT.name_zh, ELECTRONIC_PAYMENT.name_en),
    30: (ELECTRONIC_POLICE.name_zh, ELECTRONIC_POLICE.name_en),
}
