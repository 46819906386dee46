"""Demo buses with a JT/T 808 terminal: a share of the simulated fleet reports the way Chinese bus
terminals do, over the service's real JT/T 808 TCP port.

Every ``share``-th bus (by the number in its id: zq-0005, zq-0010, ... for a share of 5) gets a
terminal.  The fleet writes those buses into the terminal registry (SIM phone → vehicle, plate,
default line) when the simulation starts, and any bus that pulls out later before its terminal
first connects.  Each terminal then behaves like the device in a real bus: it holds one TCP
connection, registers (0x0100) when it has no authentication code yet, authenticates (0x0102),
sends each position as a 0x0200 and forgets it only when the platform's 0x8001 says it is stored
(the server acks after the commit), sends heartbeats (0x0002) when it has nothing to say, and
reconnects with back-off when the link drops.  Positions that waited through a broken link go up
as a 0x0704 backlog batch (补报, kept out of live tracking) and the newest as a live 0x0200,
again like a real terminal's blind-spot memory.  When its bus has been parked for a while
(``park_after_s`` of simulated time without a position) the terminal disconnects, like a bus
whose ignition is switched off.

JT/T 808 carries no trip: these buses report only positions, and the registry gives them their
default line (the line of the day's first trip) and plate, which the server puts on each fix.
Who has a terminal, and its phone and plate, is ``jt808_roster``.  The frames are built with the
codec of ``feeds.gps.jt808`` through its simulated terminal.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.location import BATCH_BACKLOG, encode_batch, encode_items, encode_location
from feeds.gps.jt808.packet import EDITION_2019
from feeds.gps.jt808.registry import TerminalRegistry
from feeds.gps.jt808.simulator import Answer, SimulatedTerminal
from feeds.gps.jt808.terminal import Terminal
from transit.core.clock import Clock
from transit.core.fix import Fix
from transit.core.ingest import IngestUnavailable, SubmitResult
from transit.demo.duties import Duty
from transit.demo.jt808_roster import (
    bus_numbers,
    bus_terminal,
    duty_line,
    plan_roster,
    reports_over_jt808,
    terminal_edition,
    terminal_phone,
)
from transit.demo.simulator import Assignment, Simulator, mixed_mode
from transit.schedule.index import ScheduleIndex

if TYPE_CHECKING:
    from transit.app.services import Services

log = logging.getLogger(__name__)

#: Positions per 0x0704 backlog batch: well under the server's default 4096-byte frame limit.
BACKLOG_BATCH = 30
#: JT/T 415 plate colour sent in 0x0100: 5, green (the D of a new-energy bus plate).
PLATE_COLOUR = 5
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Jt808Options:
    #: Every ``share``-th bus reports over JT/T 808; 0: none.
    share: int = 5
    #: Wall seconds without traffic before a heartbeat (the terminal's 0x0001 parameter).
    heartbeat_s: float = 30.0
    #: Simulated seconds without a position after which the bus counts as parked (link closed).
    park_after_s: float = 600.0
    #: Positions sent before waiting for their acknowledgements.
    window: int = 16
    #: Longest wait for a connection or an answer before the link counts as broken.
    answer_timeout_s: float = 15.0
    reconnect_max_s: float = 30.0
    #: Wait before sending again positions the platform could not store (0x8001 result 1).
    retry_s: float = 2.0
    #: Positions a terminal keeps while it cannot deliver them; beyond, the oldest go.
    max_buffer: int = 10_000


class RegistrationRefused(Exception):
    """The platform answered 0x0100 or 0x0102 with a refusal."""


def _result(answer: Answer) -> int:
    response = answer.response
    return response.result if response is not None else -1


def _km_between(a: Fix, b: Fix) -> float:
    """Distance for the terminal's own mileage (item 0x01); it counts only while moving, as GNSS
    mileage does, so a bus waiting at a stop does not add its GPS jitter."""
    if not b.speed_mps or b.speed_mps < 0.5:
        return 0.0
    k = math.cos(math.radians((a.lat + b.lat) / 2))
    return math.hypot((b.lat - a.lat) * 111.195, (b.lon - a.lon) * 111.195 * k)


# -- one bus's terminal ---------------------------------------------------------------------------

class BusTerminal:
    """A terminal in one bus: its memory of undelivered positions and its link to the platform."""

    def __init__(self, fleet: Jt808Fleet, terminal: Terminal) -> None:
        self.fleet = fleet
        self.terminal = terminal
        self.options = fleet.options
        edition = terminal_edition(terminal.vehicle_id, fleet.options.share)
        self.link = SimulatedTerminal(terminal.phone, edition, 1 if edition == EDITION_2019 else 0,
                                      timeout_s=fleet.options.answer_timeout_s, keep_raw=8)
        #: (position, mileage in km) waiting for the platform's acknowledgement.
        self.buffer: collections.deque[tuple[Fix, float]] = collections.deque()
        #: Positions sent and not yet answered.
        self.in_flight: list[tuple[Fix, float]] = []
        self.wake = asyncio.Event()
        self.connected = False
        #: Positions waited through a broken link: sent as a 0x0704 backlog.
        self.backlog = False
        self.last_fix: Fix | None = None
        self.last_sent = 0.0
        number = (bus_numbers(terminal.vehicle_id) or [0])[0]
        self.mileage_km = 40_000.0 + (number * 7919) % 160_000
        self.failures = 0
        self.stats = collections.Counter[str]()

    def hand_over(self, fixes: Sequence[Fix]) -> None:
        for fix in fixes:
            if self.last_fix is not None:
                self.mileage_km += _km_between(self.last_fix, fix)
            self.last_fix = fix
            self.buffer.append((fix, self.mileage_km))
        self.stats["positions"] += len(fixes)
        overflow = len(self.buffer) - self.options.max_buffer
        if overflow > 0:
            for _ in range(overflow):
                self.buffer.popleft()
            self.stats["overflowed"] += overflow
            log.warning("JT/T 808 demo bus %s: memory full, %d oldest positions dropped",
                        self.terminal.vehicle_id, overflow)
        self.wake.set()

    async def run(self) -> None:
        delay = 1.0
        while True:
            if not self.buffer:
                await self._idle()
                continue
            if not self.connected:
                try:
                    await self._connect()
                except (OSError, TimeoutError, RegistrationRefused) as exc:
                    self.stats["connect_failures"] += 1
                    log.warning("JT/T 808 demo bus %s cannot reach the platform (%s: %s); again in %.0f s",
                                self.terminal.vehicle_id, type(exc).__name__, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.options.reconnect_max_s)
                    continue
                delay = 1.0
            try:
                await self._send()
            except (OSError, TimeoutError) as exc:
                await self._lost(exc)

    async def _lost(self, exc: BaseException) -> None:
        self.stats["links_lost"] += 1
        log.warning("JT/T 808 demo bus %s lost its link (%s: %s); reconnecting, %d positions kept",
                    self.terminal.vehicle_id, type(exc).__name__, exc, len(self.buffer))
        await self.disconnect()
        self.backlog = True

    async def _idle(self) -> None:
        self.wake.clear()
        if not self.connected:
            await self.wake.wait()
            return
        last_ts = self.last_fix.ts if self.last_fix is not None else -math.inf
        if self.fleet.clock.now() - last_ts > self.options.park_after_s:
            log.info("JT/T 808 demo bus %s parked: its terminal disconnects", self.terminal.vehicle_id)
            self.stats["parked"] += 1
            await self.disconnect()
            return
        loop = asyncio.get_running_loop()
        wait_s = self.options.heartbeat_s - (loop.time() - self.last_sent)
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait_s)
            return
        try:
            answer = await self.link.heartbeat()
        except (OSError, TimeoutError) as exc:
            await self._lost(exc)
            return
        self.last_sent = loop.time()
        self.stats["heartbeats"] += 1
        if _result(answer) != m.RESULT_OK:
            log.warning("JT/T 808 demo bus %s: heartbeat answered %d", self.terminal.vehicle_id, _result(answer))

    async def _connect(self) -> None:
        link = self.link
        await asyncio.wait_for(link.connect(self.fleet.host, self.fleet.port), self.options.answer_timeout_s)
        self.connected = True
        try:
            if link.auth_code is None or _result(await link.authenticate()) != m.RESULT_OK:
                plate = (self.terminal.plate or "").replace("·", "")  # terminals send it without the dot
                answer = await link.register(plate=plate, plate_color=PLATE_COLOUR)
                if _result(answer) != m.REGISTER_OK:
                    raise RegistrationRefused(f"0x0100 answered with result {_result(answer)}")
                result = _result(await link.authenticate())
                if result != m.RESULT_OK:
                    raise RegistrationRefused(f"0x0102 answered with result {result}")
        except BaseException:
            await self.disconnect()
            raise
        self.stats["connections"] += 1
        self.failures = 0
        self.last_sent = asyncio.get_running_loop().time()
        log.info("JT/T 808 demo bus %s connected as terminal %s", self.terminal.vehicle_id, self.terminal.phone)

    async def disconnect(self) -> None:
        if self.connected:
            self.connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.link.close(), 2.0)

    def _body(self, item: tuple[Fix, float]) -> bytes:
        fix, mileage_km = item
        direction = round(fix.bearing_deg) % 360 if fix.bearing_deg is not None else 0
        satellites = 9 + int(fix.ts) % 6
        return encode_location(fix.lat, fix.lon, fix.ts, speed_kmh=(fix.speed_mps or 0.0) * 3.6,
                               direction_deg=direction,
                               items=encode_items(mileage_km=mileage_km, signal_strength=24, satellites=satellites))

    def _settle(self, result: int, count: int) -> bool:
        """True when the positions answered with ``result`` are done with (stored, or refused for
        good); False to keep them and send them again."""
        if result == m.RESULT_OK:
            self.stats["acknowledged"] += count
            self.failures = 0
            return True
        if result == m.RESULT_FAILURE:
            self.stats["retried"] += count
            self.failures += 1
            return False
        self.stats["refused"] += count
        log.warning("JT/T 808 demo bus %s: the platform refused %d positions (result %d)",
                    self.terminal.vehicle_id, count, result)
        return True

    async def _send(self) -> None:
        link = self.link
        loop = asyncio.get_running_loop()
        if self.backlog and len(self.buffer) > 1:
            chunk = self.in_flight = [self.buffer.popleft() for _ in range(min(len(self.buffer) - 1, BACKLOG_BATCH))]
            done = False
            try:
                serial = await link.send(m.BATCH, encode_batch([self._body(p) for p in chunk], BATCH_BACKLOG))
                self.last_sent = loop.time()
                done = self._settle(_result(await link.answer_to(serial)), len(chunk))
                self.stats["backlog_batches"] += 1
            finally:
                if not done:
                    self.buffer.extendleft(reversed(chunk))
                self.in_flight = []
        else:
            self.backlog = False
            chunk = self.in_flight = [self.buffer.popleft() for _ in range(min(len(self.buffer), self.options.window))]
            keep: list[tuple[Fix, float]] = []
            k = 0
            try:
                frames = [link.frame(m.LOCATION, self._body(p)) for p in chunk]
                await link.send_raw(b"".join(f for f, _ in frames))
                self.last_sent = loop.time()
                for k, (_, serial) in enumerate(frames):
                    if not self._settle(_result(await link.answer_to(serial)), 1):
                        keep.append(chunk[k])
                k = len(chunk)
            finally:
                self.buffer.extendleft(reversed(keep + chunk[k:]))
                self.in_flight = []
        if self.failures >= 3:  # not storing for a while: a fresh link re-authenticates
            raise ConnectionError(f"{self.failures} answers in a row were result 1")
        if self.failures:
            await asyncio.sleep(self.options.retry_s)

    def find_oldest_undelivered_ts(self) -> float | None:
        """The time of the oldest position not yet acknowledged (sent or waiting), if any."""
        times = [p[0].ts for p in self.in_flight[:1]] + [p[0].ts for p in list(self.buffer)[:1]]
        return min(times) if times else None

    def statistics(self) -> dict[str, Any]:
        return {"phone": self.terminal.phone, "plate": self.terminal.plate, "route_id": self.terminal.route_id,
                "edition": self.link.edition, "connected": self.connected,
                "undelivered": len(self.buffer) + len(self.in_flight),
                "oldest_undelivered_ts": self.find_oldest_undelivered_ts(), **self.stats}


# -- the fleet ------------------------------------------------------------------------------------

class Jt808Fleet:
    """The demo's JT/T 808 buses.  ``submit`` is a :class:`~transit.core.ingest.FixSink` for the
    positions ``picks`` chooses: it hands them to their buses' terminals and returns, and each
    terminal keeps them until the platform has acknowledged them, as a real one does."""

    def __init__(self, registry: TerminalRegistry, clock: Clock, host: str, port: int,
                 options: Jt808Options | None = None) -> None:
        self.registry = registry
        self.clock = clock
        self.host = host
        self.port = port
        self.options = options or Jt808Options()
        self.terminals: dict[str, BusTerminal] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._registered: dict[str, Terminal] = {}
        self._noted: dict[str, Terminal] = {}

    def picks(self, fix: Fix) -> bool:
        return reports_over_jt808(fix.vehicle_id, self.options.share)

    def assignment(self, base: Assignment, seed: int, index: ScheduleIndex) -> Callable[[str, Duty], str]:
        """The simulator's per-vehicle assignment: JT/T 808 buses report their line only (and are
        noted for the registry as they pull out); the others as ``base`` says."""
        def assign(vehicle_id: str, duty: Duty) -> str:
            if reports_over_jt808(vehicle_id, self.options.share):
                self.note(vehicle_id, duty_line(index, duty))
                return "route"
            if callable(base):
                return base(vehicle_id, duty)
            return mixed_mode(seed, duty) if base == "mixed" else base

        return assign

    def note(self, vehicle_id: str, route_id: str | None) -> None:
        terminal = bus_terminal(vehicle_id, route_id)
        if self._registered.get(terminal.phone) != terminal:
            self._noted[vehicle_id] = terminal

    async def register_roster(self, sim: Simulator) -> int:
        """Write the JT/T 808 buses of the simulator's day into the registry; if the database is
        away they stay noted and are written before their first position is handed over."""
        roster, _ = plan_roster(sim.index, sim.now, self.options.share, vehicles=sim.limit, prefix=sim.prefix,
                                min_layover_s=sim.model.min_layover_s)
        for terminal in roster:
            self.note(terminal.vehicle_id, terminal.route_id)
        try:
            await self.register_noted()
        except IngestUnavailable as exc:
            log.warning("%s; trying again with the first positions", exc.reason)
        return len(roster)

    async def register_noted(self) -> None:
        pending = list(self._noted.values())
        if not pending:
            return
        try:
            created, updated = await self.registry.import_terminals(pending)
        except _DB_ERRORS as exc:
            raise IngestUnavailable(f"cannot register the demo's JT/T 808 buses: {type(exc).__name__}: {exc}") from None
        for terminal in pending:
            self._registered[terminal.phone] = terminal
            if self._noted.get(terminal.vehicle_id) == terminal:
                del self._noted[terminal.vehicle_id]
            bus = self.terminals.get(terminal.vehicle_id)
            if bus is not None:
                bus.terminal = terminal
        log.info("JT/T 808 demo buses registered: %d new, %d updated", created, updated)

    async def submit(self, fixes: Sequence[Fix], source: str) -> SubmitResult:
        for fix in fixes:
            if fix.vehicle_id not in self.terminals and fix.vehicle_id not in self._noted \
                    and terminal_phone(fix.vehicle_id) not in self._registered:
                self.note(fix.vehicle_id, fix.route_id)
        try:
            await self.register_noted()
        except IngestUnavailable as exc:  # the terminals keep the positions and retry connecting
            log.warning("%s; trying again with the next positions", exc.reason)
        by_bus: dict[str, list[Fix]] = {}
        for fix in fixes:
            by_bus.setdefault(fix.vehicle_id, []).append(fix)
        for vehicle_id, own in by_bus.items():
            self._bus(vehicle_id).hand_over(own)
        return SubmitResult(len(fixes))

    def _bus(self, vehicle_id: str) -> BusTerminal:
        bus = self.terminals.get(vehicle_id)
        if bus is None:
            terminal = self._registered.get(terminal_phone(vehicle_id)) or bus_terminal(vehicle_id, None)
            bus = self.terminals[vehicle_id] = BusTerminal(self, terminal)
            self._tasks[vehicle_id] = asyncio.create_task(self._keep_running(bus), name=f"demo jt808 {vehicle_id}")
        return bus

    async def _keep_running(self, bus: BusTerminal) -> None:
        while True:
            try:
                await bus.run()
            except Exception:  # the demo goes on: log, drop the link, start the terminal again
                log.exception("JT/T 808 demo bus %s failed; restarting its terminal in 5 s", bus.terminal.vehicle_id)
                await bus.disconnect()
                await asyncio.sleep(5.0)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for bus in self.terminals.values():
            await bus.disconnect()

    def statistics(self) -> dict[str, Any]:
        buses = {v: b.statistics() for v, b in sorted(self.terminals.items())}
        totals: collections.Counter[str] = collections.Counter()
        for b in self.terminals.values():
            totals.update(b.stats)
        return {"share": self.options.share, "port": self.port, "registered": len(self._registered),
                "terminals": len(buses), "connected": sum(1 for b in self.terminals.values() if b.connected),
                "undelivered": sum(len(b.buffer) + len(b.in_flight) for b in self.terminals.values()), **totals,
                "buses": buses}


def find_fleet(services: Services, options: Jt808Options) -> Jt808Fleet | None:
    """The fleet for the service's running JT/T 808 server, or None (share 0, or no server: then
    those buses report like the others)."""
    if options.share <= 0:
        return None
    server = services.extras.get("jt808")
    registry = services.extras.get("jt808_registry")
    if server is None or registry is None or not server.port:
        log.warning("the JT/T 808 server is not running: the demo's JT/T 808 buses report in-process instead")
        return None
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    return Jt808Fleet(registry, services.clock, host, server.port, options)
