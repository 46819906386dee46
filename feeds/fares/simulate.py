"""Synthetic fare exports, for the demo and the benchmark: what a district's fare system sends.

Boardings follow a weekday profile with morning and evening peaks; each vehicle's riders pay by a
mix of channels, and cash is reported the way fare boxes report it, as one aggregate record per
vehicle, day and channel.  Output is CSV in the import format, so whatever uses it goes through
the same decoder and store as real exports.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: A Chinese city's typical mix in the mid-2020s: QR codes and cards dominate.
DEFAULT_MIX: Mapping[str, float] = {
    "wechat": 0.27, "alipay": 0.21, "local_card": 0.24, "tunion_card": 0.07, "unionpay_qr": 0.04,
    "unionpay_nfc": 0.03, "mot_qr": 0.02, "free_pass": 0.05, "cash": 0.07,
}
FARE_FEN: Mapping[str, int] = {"local_card": 180, "tunion_card": 180, "free_pass": 0}
BASE_FARE_FEN = 200

# Share of a day's boardings in each hour 06..20 (local), peaks at 7-8 and 17-18.
_HOURLY = np.array([4, 11, 10, 7, 6, 6, 6, 6, 6, 6, 7, 10, 9, 4, 2], dtype=float)
_HOURLY /= _HOURLY.sum()


@dataclass(frozen=True)
class FareExport:
    transactions_csv: bytes
    aggregates_csv: bytes
    transactions: int
    cash_boardings: int


def with_electronic_share(mix: Mapping[str, float], share: float) -> dict[str, float]:
    """``mix`` rescaled so that channels other than cash and free_pass sum to ``share``."""
    other = {"cash", "free_pass"}
    elec = sum(v for k, v in mix.items() if k not in other)
    rest = sum(v for k, v in mix.items() if k in other)
    return {k: (v / elec * share if k not in other else v / rest * (1 - share)) for k, v in mix.items()}


def simulate_fares(
    rng: np.random.Generator,
    days: Sequence[dt.date],
    vehicles: Mapping[str, Sequence[str]],
    boardings_per_vehicle_day: float,
    timezone: str = "Asia/Shanghai",
    mix: Mapping[str, float] = DEFAULT_MIX,
    stops: Mapping[str, Sequence[str]] | None = None,
    until_ts: float | None = None,
    id_prefix: str = "SIM",
) -> FareExport:
    """Fares of ``vehicles`` (line -> vehicle ids) on ``days``; nothing after ``until_ts``."""
    tz = zoneinfo.ZoneInfo(timezone)
    channels = list(mix)
    p = np.array([mix[c] for c in channels], dtype=float)
    p /= p.sum()
    cash = channels.index("cash") if "cash" in channels else -1
    pairs = [(line, v) for line, vs in vehicles.items() for v in vs]
    parts: list[pa.Table] = []
    agg_rows: list[tuple[str, str, str, str, int, str]] = []
    serial = 0
    for day in days:
        midnight = dt.datetime.combine(day, dt.time(0), tz).timestamp()
        weekend = day.weekday() >= 5
        counts = rng.poisson(boardings_per_vehicle_day * (0.8 if weekend else 1.0), len(pairs))
        total = int(counts.sum())
        which = np.repeat(np.arange(len(pairs)), counts)
        hour = rng.choice(len(_HOURLY), size=total, p=_HOURLY) + 6
        ts = midnight + hour * 3600.0 + rng.uniform(0, 3600, total).round()
        chan = rng.choice(len(channels), size=total, p=p)
        keep = chan != cash
        if until_ts is not None:
            keep &= ts <= until_ts
        in_time = ts <= until_ts if until_ts is not None else np.ones(total, dtype=bool)
        cash_counts = np.bincount(which[(chan == cash) & in_time], minlength=len(pairs))
        agg_rows.extend((line, vehicle, day.isoformat(), "cash", int(n), "fare_box")
                        for (line, vehicle), n in zip(pairs, cash_counts, strict=True) if n)
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            continue
        # The id is the boarding's position among the day's draws: the same seed gives the same
        # ids whatever ``until_ts`` cuts off, so re-simulating a day only adds the new boardings.
        ids = pc.binary_join_element_wise(
            pa.scalar(f"{id_prefix}-{day:%Y%m%d}-"), pc.cast(pa.array(idx), pa.string()), "")
        serial += idx.size
        line_names = np.array([pr[0] for pr in pairs], dtype=object)
        vehicle_names = np.array([pr[1] for pr in pairs], dtype=object)
        chosen = np.array(channels, dtype=object)[chan[idx]]
        amount = np.array([FARE_FEN.get(c, BASE_FARE_FEN) for c in channels], dtype=np.int64)[chan[idx]]
        stop_col = _stops(rng, stops, pairs, which[idx]) if stops else pa.array([""] * idx.size, pa.string())
        stamps = pa.array(ts[idx].astype(np.int64), pa.timestamp("s", tz="UTC"))
        local = pc.strftime(pc.cast(stamps, pa.timestamp("s", tz=timezone)), format="%Y-%m-%dT%H:%M:%S%z")
        parts.append(pa.table({
            "transaction_id": ids,
            "time": local,
            "line": pa.array(line_names[which[idx]].tolist(), pa.string()),
            "vehicle": pa.array(vehicle_names[which[idx]].tolist(), pa.string()),
            "stop_id": pa.array(stop_col, pa.string()),
            "channel": pa.array(chosen.tolist(), pa.string()),
            "amount_fen": pa.array(amount),
        }))
    buf = io.BytesIO()
    if parts:
        pacsv.write_csv(pa.concat_tables(parts), buf, pacsv.WriteOptions(quoting_style="none"))
    else:
        buf.write(b"transaction_id,time,line,vehicle,stop_id,channel,amount_fen\n")
    agg = io.StringIO()
    agg.write("line,vehicle,date,channel,boardings,source\n")
    agg.writelines(f"{a},{b},{c},{d},{e},{f}\n" for a, b, c, d, e, f in agg_rows)
    return FareExport(buf.getvalue(), agg.getvalue().encode(), serial, sum(r[4] for r in agg_rows))


def _stops(rng: np.random.Generator, stops: Mapping[str, Sequence[str]], pairs: Sequence[tuple[str, str]],
           which: np.ndarray) -> pa.Array:
    """A random stop of each boarding's line ('' for a line without stops)."""
    flat: list[str] = [""]
    start = np.zeros(len(pairs), dtype=np.int64)
    size = np.zeros(len(pairs), dtype=np.int64)
    for k, (line, _) in enumerate(pairs):
        options = list(stops.get(line, ()))
        start[k], size[k] = len(flat), len(options)
        flat.extend(options)
    pick = (rng.random(which.size) * size[which]).astype(np.int64)
    rows = np.where(size[which] > 0, start[which] + pick, 0)
    return pa.array(flat, pa.string()).take(pa.array(rows))
