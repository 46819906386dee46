"""MQTT push to stop boards: frames out as they change, board status in (aiomqtt, MQTT 5).

Topics (``{board_id}`` as registered):

- ``transit/boards/{board_id}/frame`` (service → board, QoS 1, retained): the same frame the
  polling endpoint serves, JSON by default or the raw rows in the board's encoding
  (``frame_format=raw``).  Published when the frame's content changes, and once per board
  interval as a keep-alive (a paging board moves on one page).  Each frame carries an MQTT 5
  message-expiry of ``online_intervals`` intervals, so the broker never hands a board a frame the
  service stopped refreshing.
- ``transit/boards/{board_id}/status`` (board → service): ``online`` when the board connects, and
  ``offline`` as its MQTT last will (plain text, or JSON ``{"status": ..., "firmware": ...}``).
  Recorded like polls: heartbeats, offline periods, the bureau's coverage.  A status for a board
  not in the registry (or one not pushed to) is refused and counted, never recorded.
- ``transit/service/boards`` (retained): ``online`` / ``offline`` (the service's own will).

Publishing is paced by a token bucket (``max_frames_per_s``), so one snapshot touching thousands
of boards does not flood the broker; a newer frame for a board replaces one still waiting.  When
the broker goes away the publisher reconnects with back-off and, once back, republishes every
board's current frame; polling never depends on any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import socket
import ssl
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from display.registry import Board
from transit.settings import MqttSettings

if TYPE_CHECKING:
    from display.boards import Boards

log = logging.getLogger(__name__)

TOPIC_PREFIX = "transit/boards"
SERVICE_TOPIC = "transit/service/boards"
#: A publish cycle starts at most this often, unless an operator message is waiting.
MIN_CYCLE_S = 0.2
#: Nothing woke the publisher: look again this often (keep-alives, minutes ticking over).
TICK_S = 1.0
MAX_IN_FLIGHT = 512
BACKOFF_S = (1.0, 30.0)


def frame_topic(board_id: str) -> str:
    return f"{TOPIC_PREFIX}/{board_id}/frame"


def status_topic(board_id: str) -> str:
    return f"{TOPIC_PREFIX}/{board_id}/status"


def parse_status(payload: bytes) -> tuple[bool, str | None] | None:
    """(online, firmware) from a status payload, or None if it is not one."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    firmware = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        text = str(data.get("status", ""))
        fw = data.get("firmware")
        firmware = str(fw)[:64] if fw is not None else None
    status = text.lower()
    if status not in ("online", "offline"):
        return None
    return status == "online", firmware


class TokenBucket:
    """``rate`` tokens a second, up to ``burst`` saved up; :meth:`take` waits for one."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._at = asyncio.get_running_loop().time()

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate)


def client_options(url: str) -> dict[str, Any]:
    """aiomqtt.Client keyword arguments for ``mqtt://user:pass@host:port`` (``mqtts://`` for TLS)."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    options: dict[str, Any] = {"hostname": parts.hostname or "127.0.0.1", "port": parts.port or (8883 if tls else 1883)}
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password) if parts.password else None
    if tls:
        options["tls_context"] = ssl.create_default_context()
    return options


class MqttPublisher:
    def __init__(self, boards: Boards, settings: MqttSettings) -> None:
        if not settings.url:
            raise ValueError("MQTT push needs TRANSIT_MQTT_URL")
        self._boards = boards
        self._settings = settings
        self._options = client_options(settings.url)
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self._urgent = False
        self._force: set[str] = set()
        #: board_id -> (content digest, when sent) of the frame last handed to the broker
        self._sent: dict[str, tuple[str, float]] = {}
        self._pending: OrderedDict[str, tuple[bytes, str, int]] = OrderedDict()
        self._pending_event = asyncio.Event()
        self._pushed: set[str] = set()
        self._props: dict[int, Properties] = {}
        self.connected = False
        self.published = 0
        self.cycles = 0
        self.connects = 0
        self.last_cycle_s = 0.0
        self.last_publish_monotonic = 0.0
        boards.services.snapshots.subscribe(lambda _snapshot: self.wake())
        boards.messages.subscribe(lambda: self.wake(urgent=True))
        boards.registry.subscribe(lambda: self.wake(urgent=True))

    # ------------------------------------------------------------------ triggers
    def wake(self, urgent: bool = False, board_id: str | None = None) -> None:
        if board_id is not None:
            self._force.add(board_id)
        self._urgent = self._urgent or urgent
        self._wake.set()

    # ------------------------------------------------------------------ connection
    async def run(self) -> None:
        """Stay connected (reconnecting with back-off) until cancelled."""
        backoff = BACKOFF_S[0]
        identifier = f"transit-boards-{socket.gethostname()}-{os.getpid()}-{random.randrange(1 << 24):06x}"
        while True:
            started = asyncio.get_running_loop().time()
            try:
                client = aiomqtt.Client(
                    **self._options, identifier=identifier, protocol=aiomqtt.ProtocolVersion.V5,
                    will=aiomqtt.Will(SERVICE_TOPIC, b"offline", qos=1, retain=True), keepalive=30,
                    timeout=10, max_inflight_messages=MAX_IN_FLIGHT,
                    clean_start=True,
                )
                client.pending_calls_threshold = 10 * MAX_IN_FLIGHT
                async with client:
                    try:
                        await self._session(client)
                    except asyncio.CancelledError:  # shutting down: say so, as the will would
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(client.publish(SERVICE_TOPIC, b"offline", qos=1, retain=True), 2)
                        raise
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError) as exc:
                if self.connected:
                    log.warning("MQTT broker connection lost (%s); reconnecting", exc)
                else:
                    log.warning("MQTT broker unreachable (%s); retrying in %.0f s", exc, backoff)
            finally:
                self._set_connected(False)
                self._client = None
            if asyncio.get_running_loop().time() - started > 30:
                backoff = BACKOFF_S[0]  # it had been up for a while: start over
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_S[1])

    def _set_connected(self, value: bool) -> None:
        self.connected = value
        self._boards.metrics.mqtt_connected.set(1 if value else 0)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._client = client
        self.connects += 1
        self._boards.metrics.mqtt_connects.inc()
        await client.subscribe(f"{TOPIC_PREFIX}/+/status", qos=1)
        await client.publish(SERVICE_TOPIC, b"online", qos=1, retain=True)
        self._set_connected(True)
        log.info("MQTT connected", extra={"broker": f"{self._options['hostname']}:{self._options['port']}"})
        # whatever happened while away, every pushed board gets its current frame now
        self._sent.clear()
        self._pending.clear()
        self.wake(urgent=True)
        tasks = [asyncio.create_task(self._listen(client), name="mqtt-status"),
                 asyncio.create_task(self._cycles(), name="mqtt-cycles"),
                 asyncio.create_task(self._send(client), name="mqtt-send")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # the first failure (a lost connection) goes up to run()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ status in
    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._on_status(str(message.topic), bytes(message.payload), bool(message.retain))

    def _on_status(self, topic: str, payload: bytes, retained: bool) -> None:
        boards = self._boards
        parts = topic.split("/")
        if len(parts) != 4 or parts[3] != "status":
            boards.metrics.reject("mqtt_status", "malformed")
            return
        if not payload:
            return  # a retained status being cleared
        board = boards.registry.get(parts[2])
        if board is None:
            boards.metrics.reject("mqtt_status", "unknown_board")
            log.debug("status for unknown board %r ignored", parts[2][:64])
            return
        if not board.pushed:
            boards.metrics.reject("mqtt_status", "not_pushed")
            return
        parsed = parse_status(payload)
        if parsed is None:
            boards.metrics.reject("mqtt_status", "malformed")
            return
        online, firmware = parsed
        boards.health.record_status(board, online, boards.clock.now(), firmware)
        boards.metrics.mqtt_statuses.labels("online" if online else "offline").inc()
        if online and not retained:
            self.wake(urgent=True, board_id=board.board_id)  # a board back on line: its frame, fresh

    # ------------------------------------------------------------------ frames out
    def _expiry_s(self, board: Board) -> int:
        """How long the broker may hand out a frame: as long as the board counts as online
        without hearing from us (at least a minute)."""
        return max(60, math.ceil(self._boards.services.settings.boards.online_intervals * board.poll_interval_s))

    def _payload(self, board: Board, now: float, advance: bool) -> tuple[bytes, str]:
        page = self._boards.frames.get_page(board, now, advance=advance)
        if board.frame_format == "raw":
            return page.text, page.etag_text
        body, etag = page.json_body(self._boards.frames.tz)
        return body, etag

    def cycle(self) -> int:
        """Queue the frame of every pushed board whose content changed, whose keep-alive is due
        or that asked for it; returns how many were queued."""
        boards = self._boards
        now = boards.clock.now()
        force, self._force = self._force, set()
        pushed = [b for b in boards.registry.list() if b.pushed]
        queued = 0
        current = {b.board_id for b in pushed}
        for gone in self._pushed - current:  # retired, or polling only now: clear its retained frame
            self._enqueue(gone, b"", "", 0)
            self._sent.pop(gone, None)
        self._pushed = current
        for board in pushed:
            sent = self._sent.get(board.board_id)
            due = sent is None or now - sent[1] >= board.poll_interval_s
            payload, digest = self._payload(board, now, advance=due and sent is not None)
            if due or board.board_id in force or digest != sent[0]:  # type: ignore[index]
                self._enqueue(board.board_id, payload, digest, self._expiry_s(board))
                self._sent[board.board_id] = (digest, now)
                queued += 1
            else:
                boards.metrics.mqtt_skipped.inc()
        self.cycles += 1
        return queued

    def _enqueue(self, board_id: str, payload: bytes, digest: str, expiry_s: int) -> None:
        self._pending.pop(board_id, None)  # a newer frame replaces one still waiting
        self._pending[board_id] = (payload, digest, expiry_s)
        self._boards.metrics.mqtt_queue.set(len(self._pending))
        self._pending_event.set()

    async def _cycles(self) -> None:
        loop = asyncio.get_running_loop()
        last_end = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()
            if not self._urgent:
                # coalesce bursts of snapshots; never spend more than about half the time here
                gap = max(MIN_CYCLE_S, 2 * self.last_cycle_s) - (loop.time() - last_end)
                if gap > 0:
                    await asyncio.sleep(gap)
            self._urgent = False
            start = loop.time()
            self.cycle()
            last_end = loop.time()
            self.last_cycle_s = last_end - start

    async def _send(self, client: aiomqtt.Client) -> None:
        rate = self._settings.max_frames_per_s
        bucket = TokenBucket(rate, burst=max(1.0, rate / 10))
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._pending_event.wait()
                while self._pending:
                    await bucket.take()
                    await slots.acquire()
                    if not self._pending:
                        slots.release()
                        break
                    board_id, (payload, digest, expiry_s) = self._pending.popitem(last=False)
                    self._boards.metrics.mqtt_queue.set(len(self._pending))
                    task = asyncio.create_task(self._publish_one(client, board_id, payload, digest, expiry_s, slots))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                self._pending_event.clear()
        finally:
            for task in in_flight:
                task.cancel()

    async def _publish_one(self, client: aiomqtt.Client, board_id: str, payload: bytes, digest: str,
                           expiry_s: int, slots: asyncio.Semaphore) -> None:
        try:
            props = None
            if payload:
                props = self._props.get(expiry_s)
                if props is None:
                    props = Properties(PacketTypes.PUBLISH)
                    props.MessageExpiryInterval = expiry_s
                    self._props[expiry_s] = props
            await client.publish(frame_topic(board_id), payload, qos=1, retain=True, properties=props)
            self.published += 1
            self.last_publish_monotonic = time.monotonic()
            self._boards.metrics.mqtt_published.inc()
        except aiomqtt.MqttError as exc:
            self._boards.metrics.mqtt_errors.inc()
            sent = self._sent.get(board_id)
            if sent is not None and sent[0] == digest:
                del self._sent[board_id]  # not delivered: the next cycle sends it again
            log.debug("publish to %s failed: %s", board_id, exc)
        finally:
            slots.release()

    def statistics(self) -> dict[str, Any]:
        return {"connected": self.connected, "connects": self.connects, "published": self.published,
                "cycles": self.cycles, "pending": len(self._pending), "pushed_boards": len(self._pushed),
                "last_cycle_s": round(self.last_cycle_s, 4)}
