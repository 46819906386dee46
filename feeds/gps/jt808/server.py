"""The asyncio TCP server terminals connect to.

One :class:`Session` per connection, written as an ``asyncio.Protocol`` rather than streams: a
read is split into frames and decoded synchronously in ``data_received`` (a TCP segment often
carries several frames, and a backlog upload many), answers that need nothing but the frame
(heartbeat, unsupported ids, bad frames) are written at once, and the rest goes in order to the
session's worker task.  The worker hands every run of consecutive location messages to the
ingest pipeline in one ``submit`` and writes their 0x8001s only after it returns, i.e. after the
fixes are committed to PostgreSQL.  If the pipeline refuses (storage down, buffer full) the
answer is result 1 so the terminal keeps the positions and sends them again.

Positions count only once the terminal has authenticated (0x0102) on this connection; before
that they are answered with result 1 and the reason goes to the log.  Limits: maximum frame size
(in the splitter), idle timeout and sub-package expiry (one sweeper task for all sessions),
connections per IP address (at accept), and a budget of bad frames per connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import Any

from feeds.gps.jt808 import messages as m
from feeds.gps.jt808.codec import Decoded, decode, decode_message
from feeds.gps.jt808.framing import FrameSplitter
from feeds.gps.jt808.location import LocationBatch, LocationReport
from feeds.gps.jt808.metrics import get_jt808_metrics, msg_label
from feeds.gps.jt808.packet import Header, Packet, encode_reply, peek_header
from feeds.gps.jt808.reassembly import SubpackageAssembler
from feeds.gps.jt808.registry import TerminalRegistry
from feeds.gps.jt808.terminal import SOURCE, Terminal, report_to_fix
from feeds.gps.metrics import get_ingest_metrics
from transit.app.services import Services
from transit.core.fix import Fix
from transit.core.ingest import IngestUnavailable
from transit.core.rejection import Rejection, RejectionKind

log = logging.getLogger("feeds.gps.jt808")

#: Decoded messages waiting for the worker before the session stops reading from the socket.
MAX_INBOX = 512
#: Terminals whose platform serial numbers are remembered.
MAX_SEQUENCES = 100_000

_LOCATION_TYPES = (LocationReport, LocationBatch)


class Session(asyncio.Protocol):
    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        settings = server.settings
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.ip = "?"
        self.splitter = FrameSplitter(settings.max_frame_bytes)
        self.assembler = SubpackageAssembler(timeout_s=server.subpackage_timeout_s)
        self.inbox: list[tuple[Decoded, float]] = []
        self.wake = asyncio.Event()
        self.worker: asyncio.Task[None] | None = None
        #: The authenticated terminal, and the phone it authenticated with.
        self.terminal: Terminal | None = None
        self.auth_phone: str | None = None
        self.errors = 0
        self.frames = 0
        self.refused_reports = 0
        self.opened = self.loop.time()
        self.last_active = self.opened
        self.closed = False
        self.paused = False
        self.admitted = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.ip = str(peer[0])
            self.peer = f"{peer[0]}:{peer[1]}"
        if not self.server.admit(self):
            self.closed = True
            transport.abort()
            return
        self.admitted = True
        self.worker = asyncio.create_task(self._run(), name=f"jt808 {self.peer}")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = self.loop.time()
        self.last_active = now
        out = bytearray()
        for item in self.splitter.feed(data):
            if self.closed:
                break
            self.frames += 1
            if isinstance(item, Rejection):
                self._bad_frame(item, None, out)
                continue
            result = decode(item, self.frames)
            if isinstance(result, Rejection):
                self._bad_frame(result, item, out)
                continue
            if isinstance(result, Packet):
                whole = self._subpackage(result, item, out)
                if whole is not None:
                    self._dispatch(whole, now, out)
            else:
                self._dispatch(result, now, out)
        if out and self.transport is not None and not self.closed:
            self.transport.write(out)
        if self.inbox:
            self.wake.set()
            if len(self.inbox) > MAX_INBOX and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.server.metrics.closed.labels("reset" if exc else "peer_closed").inc()
        self.wake.set()  # the worker finishes what it holds, then stops
        if self.admitted:
            self.server.release(self)

    # -- frames ------------------------------------------------------------------------------

    def _subpackage(self, packet: Packet, content: bytes, out: bytearray) -> Decoded | None:
        header = packet.header
        whole = self.assembler.add(packet, self.server.services.clock.now(), self.frames)
        if isinstance(whole, Rejection):
            self._bad_frame(whole, content, out)
            return None
        if whole is None:
            out += self.reply(header, m.RESULT_OK)  # this package is received; the message is not
            return None
        message = decode_message(whole, self.frames)
        if isinstance(message, Rejection):
            self._bad_frame(message, content, out)
            return None
        return Decoded(whole, message)

    def _dispatch(self, decoded: Decoded, now: float, out: bytearray) -> None:
        header = decoded.packet.header
        message = decoded.message
        self.server.metrics.messages.labels(msg_label(header.msg_id)).inc()
        if isinstance(message, m.Heartbeat):
            out += self.reply(header, m.RESULT_OK)
        elif isinstance(message, m.TerminalResponse):
            pass  # the terminal acknowledging one of ours: nothing to answer
        elif isinstance(message, m.Unsupported):
            out += self.reply(header, m.RESULT_UNSUPPORTED)
        else:
            self.inbox.append((decoded, now))

    def _bad_frame(self, rejection: Rejection, content: bytes | None, out: bytearray) -> None:
        """Count it, answer 0x8001 result 2 (3 for an encrypted body) when the header can still
        be read, and keep the connection open until its error budget is spent."""
        self.errors += 1
        self.server.count([rejection])
        header = peek_header(content) if content is not None else None
        log.info("bad JT/T 808 frame: %s", rejection.detail, extra={
            "peer": self.peer, "phone": header.phone if header else None, "kind": str(rejection.kind),
            "frame": self.frames})
        if header is not None:
            result = m.RESULT_UNSUPPORTED if rejection.kind == RejectionKind.UNSUPPORTED else m.RESULT_MESSAGE_ERROR
            out += self.reply(header, result)
        if self.errors > self.server.settings.error_budget:
            log.warning("closing JT/T 808 connection: more than %d bad frames", self.server.settings.error_budget,
                        extra={"peer": self.peer, "phone": self.auth_phone})
            if out and self.transport is not None:
                self.transport.write(bytes(out))
                out.clear()
            self.close("error_budget")

    def reply(self, header: Header, result: int) -> bytes:
        body = m.encode_platform_response(header.serial, header.msg_id, result)
        return encode_reply(m.PLATFORM_RESPONSE, body, header, self.next_serial(header.phone))

    def next_serial(self, phone: str) -> int:
        return self.server.next_serial(phone)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.metrics.closed.labels(reason).inc()
        if self.transport is not None:
            self.transport.close()
        self.wake.set()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- the worker ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self.inbox:
                if self.closed:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            batch, self.inbox = self.inbox, []
            if self.paused and self.transport is not None and not self.closed:
                self.paused = False
                self.transport.resume_reading()
            i = 0
            while i < len(batch):
                if isinstance(batch[i][0].message, _LOCATION_TYPES):
                    j = i + 1
                    while j < len(batch) and isinstance(batch[j][0].message, _LOCATION_TYPES):
                        j += 1
                    await self._locations_safely(batch[i:j])
                    i = j
                else:
                    await self._control(batch[i][0])
                    i += 1

    async def _control(self, decoded: Decoded) -> None:
        header = decoded.packet.header
        message = decoded.message
        try:
            if isinstance(message, m.Register):
                await self._register(header, message)
            elif isinstance(message, m.Authenticate):
                await self._authenticate(header, message)
            elif isinstance(message, m.Logout):
                await self._logout(header)
        except Exception as exc:  # storage trouble must not end the connection: say "failed"
            log.warning("JT/T 808 0x%04X from %s failed: %s", header.msg_id, header.phone, exc,
                        extra={"peer": self.peer, "error": type(exc).__name__})
            if isinstance(message, m.Register):
                self.write(self._register_reply(header, m.REGISTER_NO_TERMINAL, None))
            else:
                self.write(self.reply(header, m.RESULT_FAILURE))

    def _register_reply(self, header: Header, result: int, code: str | None) -> bytes:
        body = m.encode_register_response(header.serial, result, code)
        return encode_reply(m.REGISTER_RESPONSE, body, header, self.next_serial(header.phone))

    async def _register(self, header: Header, reg: m.Register) -> None:
        allow = self.server.settings.allow_unregistered
        result, code = await self.server.registry.register(header.phone, reg, allow)
        if result != m.REGISTER_OK:
            self.server.count([Rejection(self.frames, RejectionKind.UNKNOWN_VEHICLE,
                                         f"terminal {header.phone} is not in the registry")])
            log.warning("JT/T 808 registration refused: terminal %s is not in the registry "
                        "(add it with `transit terminals import` or the admin API)", header.phone,
                        extra={"peer": self.peer, "plate": reg.plate, "edition": reg.edition})
        else:
            log.info("JT/T 808 terminal %s registered", header.phone,
                     extra={"peer": self.peer, "plate": reg.plate, "edition": reg.edition})
        self.write(self._register_reply(header, result, code))

    async def _authenticate(self, header: Header, auth: m.Authenticate) -> None:
        terminal = await self.server.registry.authenticate(header.phone, auth.code)
        if terminal is None:
            self.server.count([Rejection(self.frames, RejectionKind.NOT_AUTHENTICATED,
                                         f"terminal {header.phone}: authentication code does not match")])
            log.warning("JT/T 808 authentication failed for terminal %s: unknown terminal or wrong code",
                        header.phone, extra={"peer": self.peer})
            self.write(self.reply(header, m.RESULT_FAILURE))
            return
        if self.terminal is not None and self.auth_phone != header.phone:
            self._deauthenticate()
        if self.terminal is None:
            self.server.metrics.authenticated.inc()
        self.terminal = terminal
        self.auth_phone = header.phone
        self.server.bind(header.phone, self)
        log.info("JT/T 808 terminal %s authenticated as vehicle %s", header.phone, terminal.vehicle_id,
                 extra={"peer": self.peer, "imei": auth.imei or None, "software": auth.software_version or None})
        self.write(self.reply(header, m.RESULT_OK))

    async def _logout(self, header: Header) -> None:
        if self.terminal is None or header.phone != self.auth_phone:
            self.write(self.reply(header, m.RESULT_FAILURE))
            return
        await self.server.registry.logout(header.phone)
        self.write(self.reply(header, m.RESULT_OK))
        self._deauthenticate()
        log.info("JT/T 808 terminal %s logged out", header.phone, extra={"peer": self.peer})

    def _deauthenticate(self) -> None:
        if self.terminal is not None:
            self.server.metrics.authenticated.dec()
            self.server.unbind(self)
        self.terminal = None
        self.auth_phone = None

    async def _locations_safely(self, group: list[tuple[Decoded, float]]) -> None:
        """Trouble outside the pipeline's own refusals (the registry's database away, a bug) is
        answered with result 1, so the terminal sends again; the connection lives on."""
        try:
            await self._locations(group)
        except Exception as exc:
            log.exception("JT/T 808 location handling failed; answering result 1",
                          extra={"peer": self.peer, "phone": self.auth_phone, "error": type(exc).__name__})
            self.write(b"".join(self.reply(d.packet.header, m.RESULT_FAILURE) for d, _ in group))

    async def _locations(self, group: list[tuple[Decoded, float]]) -> None:
        server = self.server
        received_ts = server.services.clock.now()
        results = [m.RESULT_OK] * len(group)
        fixes: list[Fix] = []
        owners: list[int] = []
        rejections: list[Rejection] = []
        for n, (decoded, _) in enumerate(group):
            header = decoded.packet.header
            message = decoded.message
            if self.terminal is None or header.phone != self.auth_phone:
                results[n] = m.RESULT_FAILURE
                self._refuse_unauthenticated(header, rejections)
                continue
            terminal = await server.registry.find_terminal(header.phone)
            if terminal is None:
                results[n] = m.RESULT_FAILURE
                rejections.append(Rejection(self.frames, RejectionKind.UNKNOWN_VEHICLE,
                                            f"terminal {header.phone} is no longer in the registry"))
                continue
            if isinstance(message, LocationReport):
                fix = report_to_fix(message, terminal, received_ts, True, n)
                if isinstance(fix, Rejection):
                    rejections.append(fix)
                else:
                    fixes.append(fix)
                    owners.append(n)
            elif isinstance(message, LocationBatch):
                live = not message.backlog
                for k, report in message.reports:
                    fix = report_to_fix(report, terminal, received_ts, live, k)
                    if isinstance(fix, Rejection):
                        rejections.append(fix)
                    else:
                        fixes.append(fix)
                        owners.append(n)
                rejections.extend(message.rejections)
                if message.rejections:
                    log.info("JT/T 808 batch from %s: %d of %d positions unreadable: %s", header.phone,
                             len(message.rejections), message.declared_count, message.rejections[0].detail,
                             extra={"peer": self.peer})
                    if not message.reports:
                        results[n] = m.RESULT_MESSAGE_ERROR
        if rejections:
            server.count(rejections)
        if fixes:
            try:
                sink = server.services.fix_sink
                if sink is None:
                    raise IngestUnavailable("the ingest pipeline is not running")
                await sink.submit(fixes, SOURCE)
            except IngestUnavailable as exc:
                for n in set(owners):
                    results[n] = m.RESULT_FAILURE
                log.warning("JT/T 808 positions refused by ingest (terminal will resend): %s", exc.reason,
                            extra={"peer": self.peer, "phone": self.auth_phone, "fixes": len(fixes)})
        out = bytearray()
        for (decoded, _), result in zip(group, results, strict=True):
            out += self.reply(decoded.packet.header, result)
        self.write(bytes(out))
        done = self.loop.time()
        observe = server.metrics.ack_seconds.observe
        for _, t0 in group:
            observe(done - t0)

    def _refuse_unauthenticated(self, header: Header, rejections: list[Rejection]) -> None:
        self.refused_reports += 1
        detail = (f"location report 0x{header.msg_id:04X} from terminal {header.phone} before it "
                  "authenticated on this connection; answered with result 1")
        rejections.append(Rejection(self.frames, RejectionKind.NOT_AUTHENTICATED, detail))
        if self.refused_reports == 1 or self.refused_reports % 100 == 0:
            log.warning("JT/T 808 %s (%d so far on this connection)", detail, self.refused_reports,
                        extra={"peer": self.peer, "phone": header.phone})

    def statistics(self) -> dict[str, Any]:
        return {"peer": self.peer, "phone": self.auth_phone,
                "vehicle_id": self.terminal.vehicle_id if self.terminal else None,
                "frames": self.frames, "bad_frames": self.errors, "queued": len(self.inbox),
                "idle_s": round(self.loop.time() - self.last_active, 1)}


class Jt808Server:
    def __init__(self, services: Services, registry: TerminalRegistry) -> None:
        self.services = services
        self.settings = services.settings.jt808
        self.registry = registry
        self.metrics = get_jt808_metrics(services.registry)
        self._ingest = get_ingest_metrics(services.registry)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.sessions: set[Session] = set()
        self._per_ip: collections.Counter[str] = collections.Counter()
        self._by_phone: dict[str, Session] = {}
        self._serials: dict[str, int] = {}
        self.port = 0
        self.host = self.settings.host
        #: How long a sub-packaged message may stay incomplete before 0x8003 asks for the rest.
        self.subpackage_timeout_s = 60.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self), self.settings.host, self.settings.port, reuse_address=True, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep(), name="jt808 sweeper")
        log.info("JT/T 808 server listening", extra={"host": self.settings.host, "port": self.port})

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop accepting, let workers finish what they hold (their acks follow commits), close."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        sessions = list(self.sessions)
        for s in sessions:
            if s.transport is not None and not s.closed:
                with contextlib.suppress(RuntimeError):
                    s.transport.pause_reading()
        workers = [s.worker for s in sessions if s.worker is not None and not s.worker.done()]
        for s in sessions:
            s.closed = True  # workers exit once their inbox is empty
            s.wake.set()
        if workers:
            _, pending = await asyncio.wait(workers, timeout=drain_s)
            for task in pending:
                task.cancel()
        for s in sessions:
            if s.transport is not None:
                s.transport.close()
            self.metrics.closed.labels("shutdown").inc()

    # -- bookkeeping shared by sessions ----------------------------------------------------------

    def admit(self, session: Session) -> bool:
        if self._per_ip[session.ip] >= self.settings.max_connections_per_ip:
            self.metrics.refused.labels("per_ip_limit").inc()
            log.warning("JT/T 808 connection refused: %s already has %d connections (jt808.max_connections_per_ip)",
                        session.ip, self._per_ip[session.ip], extra={"peer": session.peer})
            return False
        self._per_ip[session.ip] += 1
        self.sessions.add(session)
        self.metrics.opened.inc()
        self.metrics.connections.inc()
        return True

    def release(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        self._per_ip[session.ip] -= 1
        if self._per_ip[session.ip] <= 0:
            del self._per_ip[session.ip]
        self.metrics.connections.dec()
        session._deauthenticate()

    def bind(self, phone: str, session: Session) -> None:
        """One live connection per terminal: a new authentication replaces a stale connection
        (a terminal that lost its link reconnects before the old socket times out)."""
        old = self._by_phone.get(phone)
        self._by_phone[phone] = session
        if old is not None and old is not session:
            log.info("JT/T 808 terminal %s reconnected from %s; closing its old connection from %s",
                     phone, session.peer, old.peer)
            old._deauthenticate()
            old.close("replaced")

    def unbind(self, session: Session) -> None:
        if session.auth_phone is not None and self._by_phone.get(session.auth_phone) is session:
            del self._by_phone[session.auth_phone]

    def find_session(self, phone: str) -> Session | None:
        return self._by_phone.get(phone)

    def drop_terminal(self, phone: str) -> bool:
        """Close the connection of a terminal removed from the registry."""
        session = self._by_phone.get(phone)
        if session is None:
            return False
        session.close("terminal_deleted")
        return True

    def next_serial(self, phone: str) -> int:
        """Flow serial number of what the platform sends: one sequence per terminal, kept across
        its reconnections.  Bounded: the oldest sequences are forgotten past MAX_SEQUENCES (frames
        with made-up phones must not grow it without end)."""
        serials = self._serials
        serial = serials.pop(phone, 0)
        serials[phone] = (serial + 1) & 0xFFFF  # re-inserted: the dict's order is recency
        if len(serials) > MAX_SEQUENCES:
            del serials[next(iter(serials))]
        return serial

    def count(self, rejections: list[Rejection]) -> None:
        self._ingest.count_rejections(SOURCE, rejections)

    async def _sweep(self) -> None:
        idle_s = self.settings.idle_timeout_s
        interval = max(0.05, min(5.0, idle_s / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            wall = self.services.clock.now()
            for session in list(self.sessions):
                if session.closed:
                    continue
                if now - session.last_active > idle_s:
                    log.info("closing idle JT/T 808 connection (nothing for %.0f s)", now - session.last_active,
                             extra={"peer": session.peer, "phone": session.auth_phone})
                    session.close("idle")
                    continue
                for gone in session.assembler.expire(wall):
                    self._resend_request(session, gone)

    def _resend_request(self, session: Session, gone: Any) -> None:
        header = gone.packet.header
        self.count([Rejection(session.frames, RejectionKind.MALFORMED,
                              f"sub-packaged message 0x{gone.msg_id:04X} from {gone.phone} incomplete after "
                              f"{session.assembler.timeout_s:.0f} s; missing packages {list(gone.missing)}")])
        body = m.encode_resend_request(gone.first_serial, list(gone.missing), header.edition)
        session.write(encode_reply(m.RESEND_REQUEST, body, header, session.next_serial(header.phone)))

    def statistics(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "connections": len(self.sessions),
            "authenticated": len(self._by_phone),
            "per_ip": dict(self._per_ip.most_common(10)),
            "registry": self.registry.statistics(),
        }
