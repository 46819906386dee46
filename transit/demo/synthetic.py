"""A generated grid city of any size, for benchmarks that need thousands of buses.

Built with the same road graph and timetable builder as the Zhangqiu demo network: a square
grid of streets 700 m apart, each line a staircase walk of ``edges`` blocks across it with a
terminal hub at both ends, one stop per side of each street block, departures every
``headway_min`` minutes from both ends, and blocks chained at the terminals.  About
``lines * 10`` buses run at once with the defaults (500 lines: ~5,000 buses).

    .venv/bin/python -m transit.demo.synthetic --lines 500 --out /tmp/grid500
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
from pathlib import Path

import numpy as np

from transit.demo.gtfs_builder import Feed, Hub, Line, Network, Profile, Service, StopSite, build_feed
from transit.demo.roads import RoadGraph
from transit.schedule.geometry import LocalProjection

SPACING_M = 700.0


def grid_city(lines: int = 500, *, edges: int = 14, headway_min: int = 9, first: str = "06:00",
              last: str = "22:00", seed: int = 7) -> Network:
    rng = np.random.default_rng(seed)
    size = max(edges + 2, int(np.ceil(np.sqrt(lines) * 1.8)))
    g = RoadGraph()
    jitter = rng.uniform(-40, 40, (size, size, 2))
    for i in range(size):
        for j in range(size):
            g.node(f"{i}_{j}", i * SPACING_M + jitter[i, j, 0], j * SPACING_M + jitter[i, j, 1])
    bends = rng.uniform(-20, 20, (2, size, size))
    for j in range(size):
        g.road(f"东西{j}路", [f"{i}_{j}" for i in range(size)], speed_kmh=26, bend_m=list(bends[0, :size - 1, j]))
    for i in range(size):
        g.road(f"南北{i}街", [f"{i}_{j}" for j in range(size)], speed_kmh=26, bend_m=list(bends[1, i, :size - 1]))

    walks: list[list[str]] = []
    for k in range(lines):
        horizontal = k % 2 == 0
        along = int(rng.integers(0, size - edges))
        across = int(rng.integers(0, size))
        path = [(along, across)]
        while len(path) <= edges:
            a, c = path[-1]
            step = rng.random()
            if step < 0.15 and c + 1 < size and (a, c + 1) not in path:
                path.append((a, c + 1))
            elif step < 0.3 and c > 0 and (a, c - 1) not in path:
                path.append((a, c - 1))
            else:
                path.append((a + 1, c))
        walks.append([f"{a}_{c}" if horizontal else f"{c}_{a}" for a, c in path])

    used: dict[tuple[str, str], int] = {}
    for nodes in walks:
        for u, v in itertools.pairwise(nodes):
            edge, _ = g.find_edge(u, v)
            used.setdefault((edge.a, edge.b), len(used) + 1)
    sites = [StopSite(n, e, 0.5, f"{e[0]}—{e[1]}", f"Block {e[0]}-{e[1]}", 0.5) for e, n in used.items()]
    ends = sorted({w[0] for w in walks} | {w[-1] for w in walks})
    hubs = [Hub(node, f"H{node}", f"{node}站", f"Terminal {node}", 0.8) for node in ends]
    profile = Profile(((first, headway_min),), last)
    line_defs = [
        Line(f"G{k + 1}", f"G{k + 1}", f"网格{k + 1}路", f"Grid line {k + 1}", "336699", tuple(nodes),
             frozenset({nodes[0], nodes[-1]}), {"ALL": profile}, dir1_offset_min=headway_min // 2)
        for k, nodes in enumerate(walks)
    ]
    service = Service("ALL", (1, 1, 1, 1, 1, 1, 1), dt.date(2025, 1, 1), dt.date(2028, 12, 31))
    return Network(
        agency_id="GRID", agency_name="网格公交", agency_name_en="Grid Bus", agency_url="https://grid.example",
        timezone="Asia/Shanghai", lang="zh", projection=LocalProjection(36.6, 117.4), graph=g, sites=sites,
        hubs=hubs, lines=line_defs, services=[service], feed_version=f"grid-{lines}-{seed}",
    )


def write_grid_city(folder: Path, lines: int = 500, **options: object) -> Feed:
    feed = build_feed(grid_city(lines, **options))  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in feed.texts().items():
        (folder / name).write_text(text, encoding="utf-8")
    return feed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a generated grid-city GTFS feed.")
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--headway-min", type=int, default=9)
    parser.add_argument("--first", default="06:00")
    parser.add_argument("--last", default="22:00")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    feed = write_grid_city(args.out, args.lines, headway_min=args.headway_min, first=args.first, last=args.last)
    print(f"{args.out}: " + ", ".join(f"{name} {len(rows)}" for name, (_, rows) in feed.files.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
