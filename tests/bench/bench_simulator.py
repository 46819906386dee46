"""Simulator throughput: about 5,000 buses on 500 lines reporting every 10 s.

    .venv/bin/python tests/bench/bench_simulator.py [--lines 500] [--headway-min 7] [--seconds 300]

Generates a 500-line grid city (``transit.demo.synthetic``; weekday service 07:00–09:30, so the
feed stays small), starts the simulator at 08:30 with every duty, and advances it one simulated
second at a time (what a live driver does) for ``--seconds`` simulated seconds.  Prints:

- fixes/s produced as ``Fix`` objects (target >= 100,000), and as numpy columns
  (``advance_batch``, what a benchmark feeding arrays would use);
- the baseline from the same run: building the same number of ``Fix`` objects from ready-made
  columns, the floor any source producing ``Fix`` objects pays; the ratio says how much of
  that floor the simulation itself costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from feeds.gtfs.memory import read_index  # noqa: E402
from transit.core.fix import Fix  # noqa: E402
from transit.demo.simulator import Simulator  # noqa: E402
from transit.demo.synthetic import write_grid_city  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--headway-min", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=300.0, help="simulated seconds per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_grid_city(Path(tmp), args.lines, headway_min=args.headway_min, first="07:00", last="09:30")
        index = read_index(Path(tmp))
        print(f"grid city: {args.lines} lines, {index.n_trips:,} trips, {len(index.st_trip):,} stop times "
              f"(generated and indexed in {time.perf_counter() - t0:.1f} s)")

    tz = zoneinfo.ZoneInfo(index.timezone)
    start = dt.datetime(2026, 3, 10, 8, 30, tzinfo=tz).timestamp()

    def run(as_objects: bool) -> tuple[int, float, int]:
        t = time.perf_counter()
        sim = Simulator(index, seed=1, start_ts=start, record_truth=False)
        init = time.perf_counter() - t
        buses = sim.statistics()["vehicles_active"]
        n = 0
        now = start
        t = time.perf_counter()
        while now < start + args.seconds:
            now += 1.0
            n += len(sim.advance(now)) if as_objects else len(sim.advance_batch(now))
        elapsed = time.perf_counter() - t
        print(f"  simulator start-up with {buses:,} buses: {init:.2f} s")
        return n, elapsed, buses

    n_obj, s_obj, buses = run(True)
    rate_obj = n_obj / s_obj
    n_col, s_col, _ = run(False)
    rate_col = n_col / s_col

    # baseline: the same number of Fix objects from columns prepared beforehand
    ids = [f"bus-{i % buses:04d}" for i in range(n_obj)]
    ts = [start + i * 0.01 for i in range(n_obj)]
    lat = [36.7 + (i % 1000) * 1e-5 for i in range(n_obj)]
    fields = [("t", "r", None, "20260310", None)] * n_obj
    t = time.perf_counter()
    out = [Fix(v, a, b, b, 5.0, 90.0, f[0], f[1], f[2], f[3], f[4], None, None, "bench")
           for v, a, b, f in zip(ids, ts, lat, fields, strict=True)]
    base_s = time.perf_counter() - t
    rate_base = len(out) / base_s

    print(f"buses reporting: {buses:,} every 10 s; {args.seconds:.0f} simulated seconds, advanced 1 s at a time")
    print(f"simulator, Fix objects:    {rate_obj:>12,.0f} fixes/s  (target >= 100,000: "
          f"{'met' if rate_obj >= 100_000 else 'MISSED'}; {rate_obj / 100_000:.2f}x)")
    print(f"simulator, numpy columns:  {rate_col:>12,.0f} fixes/s")
    print(f"baseline, bare Fix build:  {rate_base:>12,.0f} fixes/s")
    print(f"ratio simulator/baseline:  {rate_obj / rate_base:.2f}")
    print(f"simulated time per wall second: {args.seconds / s_obj:,.0f}x real time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
