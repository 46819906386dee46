"""The board registry in PostgreSQL, and its in-memory copy that the polling path reads.

The frame endpoint looks a board up thousands of times a second, so it reads a dict, never the
database.  Every change goes to PostgreSQL first and then NOTIFYs ``transit_boards_changed``; every
process (the server, and a ``transit boards import`` run elsewhere) reloads on that, so the copy
follows the table whoever wrote it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from display.board_spec import BoardSpec
from display.keys import generate_key, hash_key, key_matches
from display.render import Layout

log = logging.getLogger(__name__)

CHANNEL = "transit_boards_changed"

_COLUMNS = """board_id, stop_ids, route_ids, rows, cols, paging, encoding, languages, message_mode,
              key_salt, key_digest, poll_interval_s, location, delivery, frame_format,
              created_at, updated_at, retired_at"""


@dataclass(frozen=True, slots=True)
class Board:
    board_id: str
    stop_ids: tuple[str, ...]
    route_ids: tuple[str, ...]  # empty: every line at the stops
    rows: int
    cols: int
    encoding: str
    languages: str
    poll_interval_s: float
    location: str = ""
    paging: bool = True
    message_mode: str = "row"
    delivery: str = "poll"  # poll, mqtt or both
    frame_format: str = "json"  # MQTT payload: json or raw (text in the board's encoding)
    created_ts: float = 0.0
    updated_ts: float = 0.0
    key_salt: bytes = field(default=b"", repr=False)
    key_digest: bytes = field(default=b"", repr=False)

    #: The board's :class:`Layout`, made once (the renderer asks for it on every frame).
    layout: Layout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", Layout(
            rows=self.rows, cols=self.cols, encoding=self.encoding, languages=self.languages,
            paging=self.paging, message_mode=self.message_mode))

    @property
    def pushed(self) -> bool:
        return self.delivery in ("mqtt", "both")

    def key_matches(self, presented: str | None) -> bool:
        return key_matches(presented, self.key_salt, self.key_digest)

    def as_json(self) -> dict[str, Any]:
        return {
            "board_id": self.board_id, "stop_ids": list(self.stop_ids), "route_ids": list(self.route_ids),
            "rows": self.rows, "cols": self.cols, "paging": self.paging, "encoding": self.encoding,
            "languages": self.languages, "message_mode": self.message_mode,
            "poll_interval_s": self.poll_interval_s, "location": self.location, "delivery": self.delivery,
            "frame_format": self.frame_format,
        }


def _board(r: asyncpg.Record) -> Board:
    return Board(
        board_id=r["board_id"], stop_ids=tuple(r["stop_ids"]), route_ids=tuple(r["route_ids"]),
        rows=r["rows"], cols=r["cols"], encoding=r["encoding"], languages=r["languages"],
        poll_interval_s=float(r["poll_interval_s"]), location=r["location"], paging=r["paging"],
        message_mode=r["message_mode"], delivery=r["delivery"], frame_format=r["frame_format"],
        created_ts=r["created_at"].timestamp(), updated_ts=r["updated_at"].timestamp(),
        key_salt=bytes(r["key_salt"]), key_digest=bytes(r["key_digest"]),
    )


async def list_boards(pool: asyncpg.Pool) -> list[Board]:
    """Every board in service (retired ones excluded), by id.  Stable API for the reports."""
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM boards WHERE retired_at IS NULL ORDER BY board_id")  # noqa: S608
    return [_board(r) for r in rows]


async def find_board(pool: asyncpg.Pool, board_id: str) -> Board | None:
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM boards WHERE board_id = $1 AND retired_at IS NULL", board_id)  # noqa: S608
    return _board(r) if r else None


@dataclass(frozen=True, slots=True)
class SavedBoard:
    board_id: str
    created: bool
    #: The key generated for a board that had none; shown once, never stored.
    generated_key: str | None


def _ts(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


async def save_boards(pool: asyncpg.Pool, specs: Sequence[BoardSpec], now: float) -> list[SavedBoard]:
    """Create or update boards in one transaction.  A new board without a key gets a generated
    one; an existing board keeps its key unless the spec gives a new one.  A new board starts
    offline (never seen) until it first polls."""
    out: list[SavedBoard] = []
    async with pool.acquire() as conn, conn.transaction():
        existing = {r["board_id"]: r["retired_at"] for r in await conn.fetch(
            "SELECT board_id, retired_at FROM boards WHERE board_id = ANY($1::text[]) FOR UPDATE",
            [s.board_id for s in specs])}
        for spec in specs:
            generated = None
            key = spec.key
            if key is None and spec.board_id not in existing:
                key = generated = generate_key()
            salt, digest = hash_key(key) if key is not None else (None, None)
            created = spec.board_id not in existing
            values = (spec.board_id, list(spec.stop_ids), list(spec.route_ids), spec.rows, spec.cols, spec.paging,
                      spec.encoding, spec.languages, spec.message_mode, salt, digest, spec.poll_interval_s,
                      spec.location, spec.delivery, spec.frame_format, _ts(now))
            if created:
                await conn.execute(
                    """INSERT INTO boards (board_id, stop_ids, route_ids, rows, cols, paging, encoding, languages,
                                           message_mode, key_salt, key_digest, poll_interval_s, location,
                                           delivery, frame_format, created_at, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)""",
                    *values)
            else:
                await conn.execute(
                    """UPDATE boards SET stop_ids = $2, route_ids = $3, rows = $4, cols = $5, paging = $6,
                              encoding = $7, languages = $8, message_mode = $9,
                              key_salt = COALESCE($10, key_salt), key_digest = COALESCE($11, key_digest),
                              poll_interval_s = $12, location = $13, delivery = $14, frame_format = $15,
                              updated_at = $16, retired_at = NULL
                       WHERE board_id = $1""",
                    *values)
            if created:
                await conn.execute(
                    "INSERT INTO board_offline_periods (board_id, start_at, reason) VALUES ($1, $2, 'never_seen')",
                    spec.board_id, _ts(now))
            out.append(SavedBoard(spec.board_id, created, generated))
        await conn.execute("SELECT pg_notify($1, 'boards')", CHANNEL)
    return out


async def set_key(pool: asyncpg.Pool, board_id: str, key: str | None, now: float) -> str | None:
    """Replace a board's key (a generated one when ``key`` is None); returns the new key, or None
    for an unknown board."""
    key = key or generate_key()
    salt, digest = hash_key(key)
    done = await pool.execute(
        "UPDATE boards SET key_salt = $2, key_digest = $3, updated_at = $4 "
        "WHERE board_id = $1 AND retired_at IS NULL", board_id, salt, digest, _ts(now))
    if done.endswith(" 0"):
        return None
    await pool.execute("SELECT pg_notify($1, 'boards')", CHANNEL)
    return key


async def retire_board(pool: asyncpg.Pool, board_id: str, now: float) -> bool:
    """Take a board out of service.  Its history stays (the coverage of past periods still counts
    it); from now on it counts as offline until it is registered again."""
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute(
            "UPDATE boards SET retired_at = $2, updated_at = $2 WHERE board_id = $1 AND retired_at IS NULL",
            board_id, _ts(now))
        if done.endswith(" 0"):
            return False
        await conn.execute(
            """INSERT INTO board_offline_periods (board_id, start_at, reason)
               SELECT $1, $2, 'retired'
               WHERE NOT EXISTS (SELECT 1 FROM board_offline_periods WHERE board_id = $1 AND end_at IS NULL)""",
            board_id, _ts(now))
        await conn.execute("SELECT pg_notify($1, 'boards')", CHANNEL)
    return True


class BoardRegistry:
    """The boards in service, in memory.  :meth:`get` is what every poll calls."""

    def __init__(self) -> None:
        self._boards: dict[str, Board] = {}
        self.version = 0
        self._listeners: list[Callable[[], None]] = []

    def get(self, board_id: str) -> Board | None:
        return self._boards.get(board_id)

    def list(self) -> list[Board]:
        return list(self._boards.values())

    def __len__(self) -> int:
        return len(self._boards)

    def replace(self, boards: Sequence[Board]) -> None:
        self._boards = {b.board_id: b for b in boards}
        self.version += 1
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def reload(self, pool: asyncpg.Pool) -> None:
        self.replace(await list_boards(pool))

    async def watch(self, pool: asyncpg.Pool, on_change: Callable[[str], Any] | None = None) -> None:
        """LISTEN for changes made by any process and reload.  Runs until cancelled."""
        backoff = 1.0
        while True:
            queue: asyncio.Queue[str] = asyncio.Queue()

            def notified(*args: Any, queue: asyncio.Queue[str] = queue) -> None:
                queue.put_nowait(str(args[3]))

            try:
                async with pool.acquire() as conn:
                    await conn.add_listener(CHANNEL, notified)
                    backoff = 1.0
                    try:
                        await self.reload(pool)  # anything changed while not listening
                        while True:
                            changed = {await queue.get()}
                            while not queue.empty():  # a burst of changes: one reload
                                changed.add(queue.get_nowait())
                            if "boards" in changed:
                                await self.reload(pool)
                            if on_change is not None:
                                for what in sorted(changed):
                                    result = on_change(what)
                                    if asyncio.iscoroutine(result):
                                        await result
                    finally:
                        await conn.remove_listener(CHANNEL, notified)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("board registry lost the database (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def statistics(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for b in self._boards.values():
            counts[b.delivery] = counts.get(b.delivery, 0) + 1
        return {"boards": len(self._boards), "version": self.version, "by_delivery": counts}
