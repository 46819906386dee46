"""Indicator 8: electronic-payment boardings over all boardings, also per line, channel and day.

Input rows are the daily roll-ups (day, line, channel, boardings); which channels are
electronic is the bureau's setting.  Lines are named from the active feed when the fare system's
line matches a route_id or, failing that, exactly one route_short_name.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from transit.reports.definitions import ELECTRONIC_PAYMENT
from transit.reports.indicators import Indicator, NotCounted

CHANNEL_NAMES: Mapping[str, str] = {
    "tunion_card": "交通联合卡 T-Union card", "local_card": "本地公交卡 Local transit card",
    "unionpay_nfc": "银联闪付 UnionPay NFC", "unionpay_qr": "银联二维码 UnionPay QR", "alipay": "支付宝 Alipay",
    "wechat": "微信 WeChat Pay", "mot_qr": "交通运输部二维码 MOT transit QR", "cash": "现金 Cash",
    "free_pass": "免费乘车 Free pass",
}


@dataclass(frozen=True, slots=True)
class Boardings:
    service_date: dt.date
    line: str
    channel: str
    boardings: int


def line_namer(route_names: Mapping[str, str], short_names: Mapping[str, str]) -> Any:
    """A function from the fare system's line to (route_id or None, display name)."""
    by_short: dict[str, list[str]] = defaultdict(list)
    for route_id, short in short_names.items():
        if short:
            by_short[short].append(route_id)

    def name(line: str) -> tuple[str | None, str]:
        if line in route_names:
            return line, route_names[line]
        matches = by_short.get(line, [])
        if len(matches) == 1:
            return matches[0], route_names.get(matches[0], line)
        return None, line

    return name


def electronic_payment_rate(rows: Sequence[Boardings], electronic: Collection[str],
                            route_names: Mapping[str, str] | None = None,
                            short_names: Mapping[str, str] | None = None) -> Indicator:
    electronic = frozenset(electronic)
    namer = line_namer(route_names or {}, short_names or {})
    by_channel: dict[str, int] = defaultdict(int)
    by_line: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_day: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        e = r.boardings if r.channel in electronic else 0
        by_channel[r.channel] += r.boardings
        by_line[r.line][0] += e
        by_line[r.line][1] += r.boardings
        by_day[r.service_date][0] += e
        by_day[r.service_date][1] += r.boardings
    total = sum(by_channel.values())
    paid = sum(n for c, n in by_channel.items() if c in electronic)
    channels = [{"channel": c, "name": CHANNEL_NAMES.get(c, c), "electronic": c in electronic, "boardings": n,
                 "share": n / total if total else None}
                for c, n in sorted(by_channel.items(), key=lambda kv: (kv[0] not in electronic, -kv[1], kv[0]))]
    lines: list[dict[str, Any]] = []
    for line, (e, n) in sorted(by_line.items(), key=lambda kv: kv[0]):
        route_id, name = namer(line)
        lines.append({"line": line, "route_id": route_id, "name": name, "in_feed": route_id is not None,
                      "electronic": e, "boardings": n, "rate": e / n if n else None})
    days = [{"date": d.isoformat(), "electronic": e, "boardings": n, "rate": e / n if n else None}
            for d, (e, n) in sorted(by_day.items())]
    missing = [
        NotCounted("channel", c, CHANNEL_NAMES.get(c, c),
                   f"非电子支付 not electronic payment: {n:,} boardings ({n / total:.1%} of all)",
                   {"boardings": n, "share": n / total})
        for c, n in sorted(by_channel.items(), key=lambda kv: -kv[1]) if c not in electronic and n > 0
    ]
    notes: list[str] = []
    if total == 0:
        notes.append("本期无乘车记录 no boardings recorded in the period (import fare data with "
                     "POST /api/v1/ingest/fares or `transit fares import`).")
    unknown = sorted(row["line"] for row in lines if not row["in_feed"])
    if unknown and (route_names or short_names):
        notes.append(f"Lines in the fare data but not in the active feed (still counted): {', '.join(unknown[:20])}"
                     + (" ..." if len(unknown) > 20 else ""))
    return replace(ELECTRONIC_PAYMENT.template(), numerator=paid, denominator=total, not_counted=tuple(missing),
                   tables={"channels": channels, "lines": lines, "days": days}, notes=tuple(notes))
