"""Running the simulator inside the service: its fixes go through ``services.fix_sink``, the same
durable ingest path real GPS data takes (validation, PostgreSQL, then the tracker).

A share of the buses reports like outside systems do instead: over the HTTP JSON endpoint
(``http_sink``) and as JT/T 808 terminals over TCP (``jt808_buses``).

``run_simulator`` is the loop (usable on its own with any :class:`FixSink` and clock);
``setup_simulation`` is the component the demo adds after the normal ones, so that the ingest
pipeline has started (and set ``services.fix_sink``) before the first fix is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import Counter, Gauge

from transit.app.services import Services, get_services
from transit.core.clock import Clock
from transit.core.fix import Fix
from transit.core.ingest import FixSink, IngestUnavailable, SubmitResult
from transit.demo.http_sink import HttpJsonSink, SplitSink
from transit.demo.jt808_buses import Jt808Fleet, Jt808Options, find_fleet
from transit.demo.simulator import Assignment, Simulator

log = logging.getLogger(__name__)

#: Fixes kept for a retry while the sink refuses them; beyond this the oldest simulated ones go.
MAX_PENDING = 100_000


async def run_simulator(
    sim: Simulator, sink: FixSink, clock: Clock, step_s: float = 1.0, *, source: str = "simulator",
    stop: asyncio.Event | None = None, until_ts: float | None = None,
    on_submit: Any = None,
) -> None:
    """Advance ``sim`` with ``clock`` every ``step_s`` simulated seconds and submit its fixes to
    ``sink``, until ``stop`` is set, ``until_ts`` is passed, or the task is cancelled.

    Fixes the sink refuses for now (:class:`IngestUnavailable`) are kept and sent again after the
    delay it asks for, so a database restart loses nothing the simulator produced.
    """
    pending: list[Fix] = []
    loop = asyncio.get_running_loop()
    while stop is None or not stop.is_set():
        now = clock.now()
        if until_ts is not None:
            now = min(now, until_ts)
        if now > sim.now:
            pending.extend(sim.advance(now))
            if len(pending) > MAX_PENDING:
                del pending[: len(pending) - MAX_PENDING]
        if pending:
            try:
                result = await sink.submit(pending, source)
            except IngestUnavailable as exc:
                log.warning("ingest refused %d simulated fixes (%s); retrying in %.0f s",
                            len(pending), exc.reason, exc.retry_after_s)
                await asyncio.sleep(min(exc.retry_after_s, 10.0))
                continue
            if on_submit is not None:
                on_submit(pending, result)
            pending = []
        if until_ts is not None and sim.now >= until_ts:
            return
        started = loop.time()
        await clock.sleep(step_s)
        if loop.time() - started < 0.001:
            await asyncio.sleep(0)  # a manual clock that is not moving: let others run


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    seed: int = 20
    vehicles: int | None = None
    assignment: Assignment = "mixed"
    gps_noise_m: float = 8.0
    report_interval_s: float = 10.0
    #: Simulated seconds per step; the demo sets it from the time-lapse factor.
    step_s: float = 1.0
    label_format: str | None = "鲁A{number:05d}D"
    vehicle_prefix: str = "zq-"
    #: Wall seconds to wait for the ingest component before feeding the tracker's stream directly.
    sink_timeout_s: float = 30.0
    #: The service's own URL: when set, every tenth bus reports through ``POST
    #: /api/v1/ingest/positions`` (with the ingest token) instead of the in-process sink.
    http_base_url: str | None = None
    #: Which buses report through the JT/T 808 TCP server, like Chinese bus terminals (none by default).
    jt808: Jt808Options = field(default_factory=lambda: Jt808Options(share=0))


def reports_over_http(fix: Fix) -> bool:
    """Every tenth bus (by the number in its id) reports like an outside AVL system would."""
    digits = "".join(ch for ch in fix.vehicle_id if ch.isdigit())
    return bool(digits) and int(digits) % 10 == 3


class _StreamSink:
    """Last resort when no ingest component runs: hand fixes to the tracker's stream unstored."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        self._services.fix_stream.put_nowait(fixes)
        return SubmitResult(len(fixes))


async def wait_fix_sink(services: Services, timeout_s: float) -> FixSink | None:
    """The ingest pipeline once its component has started, or None after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # another component's start-up sets it; there is no event to wait on, so look now and then
    while services.fix_sink is None and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return services.fix_sink


class DemoSimulation:
    """The demo's running simulator (replaced when a new feed version is activated)."""

    def __init__(self, services: Services, options: SimulationOptions) -> None:
        self.services = services
        self.options = options
        self.sim: Simulator | None = None
        self.jt808: Jt808Fleet | None = None
        self._swapped = asyncio.Event()
        registry = services.registry
        self._fixes = Counter("transit_demo_fixes", "Fixes the demo simulator submitted", registry=registry)
        self._vehicles = Gauge("transit_demo_vehicles", "Buses the demo simulator is driving", registry=registry)
        services.schedule.subscribe(lambda index: self._swapped.set())

    def build(self) -> Simulator:
        o = self.options
        index = self.services.schedule.get()
        assignment = self.jt808.assignment(o.assignment, o.seed, index) if self.jt808 else o.assignment
        return Simulator(
            index, seed=o.seed, start_ts=self.services.clock.now(), vehicles=o.vehicles, assignment=assignment,
            gps_noise_m=o.gps_noise_m, report_interval_s=o.report_interval_s, label_format=o.label_format,
            vehicle_prefix=o.vehicle_prefix, record_truth=False, source="demo",
        )

    def _on_submit(self, fixes: Sequence[Fix], result: SubmitResult) -> None:
        self._fixes.inc(len(fixes))
        if self.sim is not None:
            self._vehicles.set(self.sim.statistics()["vehicles_active"])

    async def run(self) -> None:
        services = self.services
        sink = await wait_fix_sink(services, self.options.sink_timeout_s)
        if sink is None:
            log.error("the ingest component is not running; simulated fixes go straight to the tracker, unstored")
            sink = _StreamSink(services)
        self.jt808 = find_fleet(services, self.options.jt808)
        services.extras["demo_jt808"] = self.jt808
        token = services.settings.ingest.token
        try:
            if self.options.http_base_url and token:
                async with aiohttp.ClientSession() as session:
                    http = HttpJsonSink(session, self.options.http_base_url, token)
                    await self._loop(self._with_jt808(SplitSink(sink, http, reports_over_http)))
            else:
                await self._loop(self._with_jt808(sink))
        finally:
            if self.jt808 is not None:
                await self.jt808.close()

    def _with_jt808(self, sink: FixSink) -> FixSink:
        """The JT/T 808 buses' positions go to their terminals, the rest to ``sink``."""
        return SplitSink(sink, self.jt808, self.jt808.picks) if self.jt808 is not None else sink

    async def _loop(self, sink: FixSink) -> None:
        services = self.services
        while True:
            self._swapped.clear()
            try:
                self.sim = self.build()
                services.extras["simulator"] = self.sim
                if self.jt808 is not None:
                    await self.jt808.register_roster(self.sim)
                log.info("demo simulator started", extra={"feed_id": self.sim.index.feed_id,
                                                          "vehicles": self.sim.statistics()["vehicles_active"]})
                await run_simulator(self.sim, sink, services.clock, self.options.step_s, source="demo",
                                    stop=self._swapped, on_submit=self._on_submit)
            except Exception:  # the demo keeps going: log, wait, start again from the current time
                log.exception("demo simulator failed; restarting in 5 s")
                await asyncio.sleep(5.0)

    def statistics(self) -> dict[str, Any]:
        return self.sim.statistics() if self.sim is not None else {}


SIMULATION = web.AppKey("demo_simulation", DemoSimulation)


def setup_simulation(app: web.Application, services: Services, options: SimulationOptions) -> None:
    """Add the simulator to ``app``; call after the normal components so ingest starts first."""
    app[SIMULATION] = DemoSimulation(services, options)
    app.cleanup_ctx.append(_simulation_ctx)


async def _simulation_ctx(app: web.Application) -> AsyncIterator[None]:
    simulation = app[SIMULATION]
    task = asyncio.create_task(simulation.run(), name="demo-simulator")
    get_services(app).extras["demo_simulation"] = simulation
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
