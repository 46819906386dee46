"""``transit demo``: placeholder until the demo network lands (see transit/demo)."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the service on the bundled Zhangqiu demo network",
                       description="Import the demo network, start the simulator and serve.")
    p.add_argument("--port", type=int, help="HTTP port (default 8080)")
    p.add_argument("--host", help="HTTP bind address")
    p.add_argument("--jt808-port", type=int, help="JT/T 808 TCP port")
    p.set_defaults(handler=lambda args, settings: 1)
