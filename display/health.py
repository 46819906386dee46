"""Board health: heartbeats, online/offline, offline periods in PostgreSQL, and the bureau's share.

Every poll and every MQTT status is a heartbeat.  Heartbeats are kept in memory and written to
``boards`` in batches (a poll must stay cheap); the moments a board goes offline and comes back are
written to ``board_offline_periods``.  A polling board goes offline at the moment it missed
``online_intervals`` of its polls (not when we happened to notice), an MQTT board when its last
will arrives; after a restart of the service, boards that stopped polling while it was down get
their offline period from that same moment.

:func:`online_shares` is what the bureau's board-coverage indicator reads: keep its signature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from display.registry import Board, BoardRegistry

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _State:
    online: bool
    offline_since: float | None
    last_poll_ts: float | None = None
    last_seen_ts: float | None = None
    ip: str | None = None
    firmware: str | None = None
    via: str | None = None
    mqtt_online: bool = False
    mqtt_change_ts: float | None = None
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class BoardStatus:
    board_id: str
    online: bool
    last_seen_ts: float | None
    ip: str | None
    firmware: str | None
    via: str | None  # "poll" or "mqtt"
    offline_since_ts: float | None
    mqtt_online: bool


def _ts(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _runs(ops: list[tuple[str, str, float, str]]) -> Iterator[tuple[str, list[tuple[str, str, float, str]]]]:
    """Consecutive operations of the same kind, in order, each board at most once per run (a board
    alternates between opening and closing, so it repeats only across runs; the split keeps it so)."""
    run: list[tuple[str, str, float, str]] = []
    seen: set[str] = set()
    for op in ops:
        if run and (op[0] != run[0][0] or op[1] in seen):
            yield run[0][0], run
            run, seen = [], set()
        run.append(op)
        seen.add(op[1])
    if run:
        yield run[0][0], run


class BoardHealth:
    def __init__(self, registry: BoardRegistry, online_intervals: float, mqtt_enabled: bool = False) -> None:
        self._registry = registry
        self._intervals = online_intervals
        self._mqtt_enabled = mqtt_enabled
        self._states: dict[str, _State] = {}
        self._ops: list[tuple[str, str, float, str]] = []  # (open|close, board_id, ts, reason)
        self.flush_failures = 0

    # ------------------------------------------------------------------ recording (hot path)
    def _state(self, board: Board) -> _State:
        st = self._states.get(board.board_id)
        if st is None:
            st = self._states[board.board_id] = _State(online=False, offline_since=board.created_ts or None)
        return st

    def record_poll(self, board: Board, now: float, ip: str | None, firmware: str | None) -> None:
        st = self._states.get(board.board_id)
        if st is None:
            st = self._state(board)
        st.last_poll_ts = st.last_seen_ts = now
        st.ip = ip
        if firmware:
            st.firmware = firmware
        st.via = "poll"
        st.dirty = True
        if not st.online:
            self._back(board.board_id, st, now)

    def record_status(self, board: Board, online: bool, now: float, firmware: str | None = None) -> None:
        """An MQTT status message (``online``, or the last will ``offline``) from a known board."""
        st = self._state(board)
        st.last_seen_ts = now
        st.via = "mqtt"
        if firmware:
            st.firmware = firmware
        st.dirty = True
        st.mqtt_online = online
        st.mqtt_change_ts = now
        if online and not st.online:
            self._back(board.board_id, st, now)
        elif not online and st.online and not self.is_online(board, now):
            self._gone(board.board_id, st, now, "mqtt_offline")

    def _back(self, board_id: str, st: _State, now: float) -> None:
        st.online = True
        st.offline_since = None
        self._ops.append(("close", board_id, now, ""))

    def _gone(self, board_id: str, st: _State, since: float, reason: str) -> None:
        st.online = False
        st.offline_since = since
        self._ops.append(("open", board_id, since, reason))

    # ------------------------------------------------------------------ state
    def grace_s(self, board: Board) -> float:
        return self._intervals * board.poll_interval_s

    def is_online(self, board: Board, now: float) -> bool:
        st = self._states.get(board.board_id)
        if st is None:
            return False
        if st.mqtt_online:
            return True
        return st.last_poll_ts is not None and now - st.last_poll_ts <= self.grace_s(board)

    def status(self, board: Board, now: float) -> BoardStatus:
        st = self._states.get(board.board_id) or _State(online=False, offline_since=board.created_ts or None)
        return BoardStatus(board.board_id, st.online and self.is_online(board, now), st.last_seen_ts, st.ip,
                           st.firmware, st.via, st.offline_since, st.mqtt_online)

    def evaluate(self, now: float) -> None:
        """Find boards that stopped being heard; date their offline period from the moment they
        missed their polls (or their MQTT session ended)."""
        states, intervals = self._states, self._intervals
        for board in self._registry.list():  # every second: keep the loop body lean
            st = states.get(board.board_id)
            if st is None or not st.online or st.mqtt_online:
                continue
            last = st.last_poll_ts
            if last is not None and now - last <= intervals * board.poll_interval_s:
                continue
            candidates = [t for t in (
                last + self.grace_s(board) if last is not None else None,
                st.mqtt_change_ts if st.mqtt_change_ts is not None else None,
            ) if t is not None]
            since = min(now, max(candidates)) if candidates else now
            self._gone(board.board_id, st, since, "mqtt_offline" if st.via == "mqtt" else "missed_polls")

    # ------------------------------------------------------------------ persistence
    async def load(self, pool: asyncpg.Pool) -> None:
        """Restore what the database knows (after a restart): last heartbeats and open periods."""
        rows = await pool.fetch(
            """SELECT b.board_id, b.last_seen_at, b.last_ip, b.firmware, b.last_via, b.created_at,
                      p.start_at AS open_since
               FROM boards b LEFT JOIN board_offline_periods p ON p.board_id = b.board_id AND p.end_at IS NULL
               WHERE b.retired_at IS NULL""")
        for r in rows:
            seen = r["last_seen_at"].timestamp() if r["last_seen_at"] else None
            open_since = r["open_since"].timestamp() if r["open_since"] else None
            mqtt = self._mqtt_enabled and r["last_via"] == "mqtt" and open_since is None
            self._states[r["board_id"]] = _State(
                online=open_since is None, offline_since=open_since,
                last_poll_ts=seen if r["last_via"] == "poll" else None, last_seen_ts=seen, ip=r["last_ip"],
                firmware=r["firmware"], via=r["last_via"], mqtt_online=mqtt,
                mqtt_change_ts=seen if r["last_via"] == "mqtt" else None)

    async def flush(self, pool: asyncpg.Pool, heartbeats: bool = True) -> None:
        """Write offline-period changes (and, unless told not to, heartbeats); on failure they
        stay queued for the next attempt."""
        dirty = [(bid, st) for bid, st in self._states.items() if st.dirty] if heartbeats else []
        ops, self._ops = self._ops, []
        if not dirty and not ops:
            return
        for _, st in dirty:
            st.dirty = False
        try:
            async with pool.acquire() as conn, conn.transaction():
                if dirty:
                    await conn.execute(
                        """UPDATE boards b SET last_seen_at = u.seen, last_ip = u.ip,
                                  firmware = COALESCE(u.firmware, b.firmware), last_via = u.via
                           FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
                                AS u(board_id, seen, ip, firmware, via)
                           WHERE b.board_id = u.board_id""",
                        [bid for bid, _ in dirty], [_ts(st.last_seen_ts or 0.0) for _, st in dirty],
                        [st.ip for _, st in dirty], [st.firmware for _, st in dirty], [st.via for _, st in dirty])
                for op, run in _runs(ops):
                    # one statement per run of the same operation, in order: after a restart
                    # thousands of boards come back within seconds
                    if op == "open":
                        await conn.execute(
                            """INSERT INTO board_offline_periods (board_id, start_at, reason)
                               SELECT u.board_id, u.start_at, u.reason
                               FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS u(board_id, start_at, reason)
                               WHERE EXISTS (SELECT 1 FROM boards b WHERE b.board_id = u.board_id)
                               ON CONFLICT (board_id) WHERE end_at IS NULL DO NOTHING""",
                            [o[1] for o in run], [_ts(o[2]) for o in run], [o[3] for o in run])
                    else:
                        await conn.execute(
                            """UPDATE board_offline_periods p SET end_at = GREATEST(p.start_at, u.end_at)
                               FROM unnest($1::text[], $2::timestamptz[]) AS u(board_id, end_at)
                               WHERE p.board_id = u.board_id AND p.end_at IS NULL""",
                            [o[1] for o in run], [_ts(o[2]) for o in run])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.flush_failures += 1
            self._ops[:0] = ops
            for _, st in dirty:
                st.dirty = True
            log.warning("board heartbeats not written (%s); kept for the next attempt", exc)

    async def run(self, pool: asyncpg.Pool, clock: Any, interval_s: float = 1.0,
                  heartbeat_every: int = 5) -> None:
        """Evaluate and write offline periods every ``interval_s``, heartbeats every
        ``heartbeat_every`` rounds (a poll's last-seen time may reach the table a few seconds
        late; an offline period never does), until cancelled; then write everything once more."""
        rounds = 0
        try:
            while True:
                self.evaluate(clock.now())
                rounds += 1
                await self.flush(pool, heartbeats=rounds % heartbeat_every == 0)
                await asyncio.sleep(interval_s)
        finally:
            self.evaluate(clock.now())
            await asyncio.shield(self.flush(pool))

    def statistics(self, now: float) -> dict[str, Any]:
        boards = self._registry.list()
        online = sum(self.is_online(b, now) for b in boards)
        return {"boards": len(boards), "online": online, "offline": len(boards) - online,
                "pending_writes": len(self._ops) + sum(st.dirty for st in self._states.values()),
                "flush_failures": self.flush_failures}


class HealthCollector(Collector):
    """Board status in /metrics, computed at scrape time (nothing on the poll path)."""

    def __init__(self, health: BoardHealth, registry: BoardRegistry, clock: Any) -> None:
        self._health = health
        self._registry = registry
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(sample=False))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(sample=True))

    def _families(self, sample: bool) -> list[GaugeMetricFamily]:
        counts = GaugeMetricFamily("transit_boards", "Boards in service by state", labels=["state"])
        online = GaugeMetricFamily("transit_board_online", "1 if the board was heard within its "
                                   "online window, else 0", labels=["board_id"])
        seen = GaugeMetricFamily("transit_board_last_seen_timestamp_seconds",
                                 "When the board last polled or sent its MQTT status", labels=["board_id"])
        if sample:
            now = self._clock.now()
            n_online = 0
            for board in self._registry.list():
                st = self._health.status(board, now)
                n_online += st.online
                online.add_metric([board.board_id], 1.0 if st.online else 0.0)
                if st.last_seen_ts is not None:
                    seen.add_metric([board.board_id], st.last_seen_ts)
            counts.add_metric(["online"], n_online)
            counts.add_metric(["offline"], len(self._registry) - n_online)
        return [counts, online, seen]


async def online_shares(pool: asyncpg.Pool, from_ts: float, to_ts: float) -> dict[str, float]:
    """Share of [from_ts, to_ts] each board was online, by board_id (0.0 .. 1.0).

    A board counts over the part of the period it was registered (from its creation until it was
    retired); boards registered after the period or retired before it are left out.  A board is
    offline from its registration until it is first heard, and during every recorded offline
    period; an offline period still open runs to ``to_ts``.  Ask about periods that have ended.
    """
    if to_ts <= from_ts:
        raise ValueError("to_ts must be after from_ts")
    rows = await pool.fetch(
        """WITH span AS (
               SELECT board_id, GREATEST(created_at, $1) AS s, LEAST(COALESCE(retired_at, $2), $2) AS e
               FROM boards WHERE created_at < $2 AND (retired_at IS NULL OR retired_at > $1))
           SELECT span.board_id, EXTRACT(EPOCH FROM span.e - span.s)::float8 AS length_s,
                  COALESCE(SUM(EXTRACT(EPOCH FROM
                      LEAST(COALESCE(p.end_at, span.e), span.e) - GREATEST(p.start_at, span.s)))
                      FILTER (WHERE p.period_id IS NOT NULL), 0)::float8 AS offline_s
           FROM span LEFT JOIN board_offline_periods p
                ON p.board_id = span.board_id AND p.start_at < span.e AND COALESCE(p.end_at, 'infinity') > span.s
           WHERE span.e > span.s
           GROUP BY span.board_id, span.s, span.e""",
        _ts(from_ts), _ts(to_ts))
    return {r["board_id"]: max(0.0, min(1.0, 1.0 - r["offline_s"] / r["length_s"])) for r in rows}


async def list_offline_periods(pool: asyncpg.Pool, board_id: str, from_ts: float,
                               to_ts: float) -> list[tuple[float, float | None, str]]:
    """(start, end or None while still offline, reason) of a board's offline periods."""
    rows = await pool.fetch(
        "SELECT start_at, end_at, reason FROM board_offline_periods WHERE board_id = $1 AND start_at < $3 "
        "AND COALESCE(end_at, 'infinity') > $2 ORDER BY start_at", board_id, _ts(from_ts), _ts(to_ts))
    return [(r["start_at"].timestamp(), r["end_at"].timestamp() if r["end_at"] else None, r["reason"])
            for r in rows]
