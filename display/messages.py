"""Operator messages for boards (道路施工 临时改道 ...): stored in PostgreSQL, held in memory.

A message targets one board, the boards of one line (boards listing that route, or showing every
line at a stop the route serves) or all boards, from a start to an end.  Any change bumps
:attr:`MessageBook.version`, which is part of every frame's cache key, so polling boards see it on
their next poll and the MQTT publisher pushes it at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

import asyncpg

from display.registry import CHANNEL
from display.render import BoardMessage

SCOPES = ("board", "route", "all")
#: Ended messages stay listed (for the admin page) this long.
KEEP_ENDED_S = 86400.0


def _message(r: asyncpg.Record) -> BoardMessage:
    return BoardMessage(message_id=r["message_id"], text=r["text"], text_en=r["text_en"],
                        starts_ts=r["starts_at"].timestamp(), ends_ts=r["ends_at"].timestamp(),
                        scope=r["scope"], target=r["target"])


def _ts(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def message_json(m: BoardMessage, tz: dt.tzinfo) -> dict[str, Any]:
    return {"message_id": m.message_id, "scope": m.scope, "target": m.target, "text": m.text,
            "text_en": m.text_en, "starts_at": dt.datetime.fromtimestamp(m.starts_ts, tz).isoformat(timespec="seconds"),
            "ends_at": dt.datetime.fromtimestamp(m.ends_ts, tz).isoformat(timespec="seconds")}


class MessageBook:
    def __init__(self) -> None:
        self._messages: tuple[BoardMessage, ...] = ()
        self.version = 0
        self._listeners: list[Callable[[], None]] = []

    def list(self) -> tuple[BoardMessage, ...]:
        return self._messages

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def replace(self, messages: Collection[BoardMessage]) -> None:
        self._messages = tuple(sorted(messages, key=lambda m: (m.starts_ts, m.message_id)))
        self.version += 1
        for listener in list(self._listeners):
            listener()

    def for_board(self, board_id: str, routes: Collection[str], now: float) -> tuple[BoardMessage, ...]:
        """Messages for this board that have not ended (the renderer shows those active at its
        ``now``).  ``routes``: the routes the board shows."""
        return tuple(
            m for m in self._messages
            if m.ends_ts > now and (m.scope == "all" or (m.scope == "board" and m.target == board_id)
                                    or (m.scope == "route" and m.target in routes))
        )

    async def reload(self, pool: asyncpg.Pool, now: float) -> None:
        rows = await pool.fetch(
            "SELECT message_id, scope, target, text, text_en, starts_at, ends_at FROM board_messages "
            "WHERE ends_at > $1", _ts(now - KEEP_ENDED_S))
        self.replace([_message(r) for r in rows])

    async def create(self, pool: asyncpg.Pool, *, scope: str, target: str | None, text: str,
                     text_en: str | None, starts_ts: float, ends_ts: float, now: float) -> BoardMessage:
        r = await pool.fetchrow(
            "INSERT INTO board_messages (scope, target, text, text_en, starts_at, ends_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "RETURNING message_id, scope, target, text, text_en, starts_at, ends_at",
            scope, target, text, text_en, _ts(starts_ts), _ts(ends_ts))
        await pool.execute("SELECT pg_notify($1, 'messages')", CHANNEL)
        await self.reload(pool, now)
        return _message(r)

    async def end(self, pool: asyncpg.Pool, message_id: int, now: float) -> BoardMessage | None:
        """End a message now (it stays listed as ended); None if unknown."""
        r = await pool.fetchrow(
            "UPDATE board_messages SET ends_at = GREATEST(starts_at + interval '1 microsecond', "
            "LEAST(ends_at, $2)) WHERE message_id = $1 "
            "RETURNING message_id, scope, target, text, text_en, starts_at, ends_at",
            message_id, _ts(now))
        if r is None:
            return None
        await pool.execute("SELECT pg_notify($1, 'messages')", CHANNEL)
        await self.reload(pool, now)
        return _message(r)

    def statistics(self, now: float) -> dict[str, Any]:
        return {"messages": len(self._messages), "active": sum(m.active(now) for m in self._messages),
                "version": self.version}
