"""What the running signal component holds: its metrics and the coverage-log worker."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from signals.metrics import SignalMetrics
from signals.worker import CoverageWorker


@dataclass
class SignalsRuntime:
    metrics: SignalMetrics
    worker: CoverageWorker


SIGNALS = web.AppKey("signals", SignalsRuntime)


def get_runtime(app: web.Application) -> SignalsRuntime:
    return app[SIGNALS]
