"""The terminal registry in PostgreSQL (table ``jt808_terminals``, migration 0110).

Every position needs its terminal's vehicle, so lookups go through a small in-process cache with
a time-to-live: admin changes made in this process invalidate it at once, changes from another
process (``transit terminals import``) are seen within ``cache_ttl_s``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from feeds.gps.jt808.messages import REGISTER_NO_TERMINAL, REGISTER_OK, Register
from feeds.gps.jt808.terminal import Terminal, provisional_vehicle_id


class TerminalExists(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TerminalRow:
    terminal: Terminal
    auth_code: str | None
    details: Mapping[str, Any]

    def as_json(self, tz: dt.tzinfo | None = None) -> dict[str, Any]:
        """Instants as ISO 8601 with the offset of ``tz`` (the service's zone)."""
        t = self.terminal
        d = self.details

        def iso(value: dt.datetime | None) -> str | None:
            return value.astimezone(tz).isoformat() if value is not None else None

        return {
            "phone": t.phone, "vehicle_id": t.vehicle_id, "plate": t.plate, "route_id": t.route_id,
            "provisional": t.provisional, "auth_code_set": self.auth_code is not None,
            "registration": None if d["registered_at"] is None else {
                "edition": d["edition"], "maker_id": d["maker_id"], "model": d["model"],
                "device_id": d["device_id"], "plate": d["registered_plate"], "at": iso(d["registered_at"]),
            },
            "authenticated_at": iso(d["authenticated_at"]),
            "created_at": iso(d["created_at"]), "updated_at": iso(d["updated_at"]),
        }


def _row(record: asyncpg.Record) -> TerminalRow:
    terminal = Terminal(record["phone"], record["vehicle_id"], record["plate"], record["route_id"],
                        record["provisional"])
    return TerminalRow(terminal, record["auth_code"], dict(record))


def new_auth_code() -> str:
    return secrets.token_hex(8).upper()


class TerminalRegistry:
    def __init__(self, pool: asyncpg.Pool, cache_ttl_s: float = 30.0) -> None:
        self._pool = pool
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Terminal | None]] = {}
        self.lookups = 0
        self.misses = 0

    # -- lookups on the position path ----------------------------------------------------------

    def find_cached(self, phone: str) -> tuple[bool, Terminal | None]:
        """(hit, terminal): a hit may be a cached "no such terminal"."""
        self.lookups += 1
        entry = self._cache.get(phone)
        if entry is not None and time.monotonic() - entry[0] < self.cache_ttl_s:
            return True, entry[1]
        return False, None

    async def find_terminal(self, phone: str) -> Terminal | None:
        hit, terminal = self.find_cached(phone)
        if hit:
            return terminal
        self.misses += 1
        row = await self.find_row(phone)
        terminal = row.terminal if row is not None else None
        self._cache[phone] = (time.monotonic(), terminal)
        return terminal

    def invalidate(self, phone: str | None = None) -> None:
        if phone is None:
            self._cache.clear()
        else:
            self._cache.pop(phone, None)

    # -- administration ------------------------------------------------------------------------

    async def find_row(self, phone: str) -> TerminalRow | None:
        record = await self._pool.fetchrow("SELECT * FROM jt808_terminals WHERE phone = $1", phone)
        return _row(record) if record is not None else None

    async def list_rows(self, route_id: str | None = None, vehicle_id: str | None = None) -> list[TerminalRow]:
        records = await self._pool.fetch(
            """SELECT * FROM jt808_terminals
                WHERE ($1::text IS NULL OR route_id = $1) AND ($2::text IS NULL OR vehicle_id = $2)
                ORDER BY vehicle_id, phone""",
            route_id, vehicle_id,
        )
        return [_row(r) for r in records]

    async def create(self, terminal: Terminal, auth_code: str | None = None) -> TerminalRow:
        try:
            record = await self._pool.fetchrow(
                """INSERT INTO jt808_terminals (phone, vehicle_id, plate, route_id, provisional, auth_code)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
                terminal.phone, terminal.vehicle_id, terminal.plate, terminal.route_id,
                terminal.provisional, auth_code,
            )
        except asyncpg.UniqueViolationError:
            raise TerminalExists(terminal.phone) from None
        self.invalidate(terminal.phone)
        return _row(record)

    async def update(self, phone: str, changes: Mapping[str, Any]) -> TerminalRow | None:
        """Change some of vehicle_id, plate, route_id, auth_code; an operator's edit makes a
        provisional terminal a regular one."""
        allowed = ("vehicle_id", "plate", "route_id", "auth_code")
        values = [changes.get(k) for k in allowed]
        flags = [k in changes for k in allowed]
        record = await self._pool.fetchrow(
            """UPDATE jt808_terminals SET
                    vehicle_id = CASE WHEN $2 THEN $6 ELSE vehicle_id END,
                    plate = CASE WHEN $3 THEN $7 ELSE plate END,
                    route_id = CASE WHEN $4 THEN $8 ELSE route_id END,
                    auth_code = CASE WHEN $5 THEN $9 ELSE auth_code END,
                    provisional = false, updated_at = now()
                WHERE phone = $1 RETURNING *""",
            phone, *flags, *values,
        )
        self.invalidate(phone)
        return _row(record) if record is not None else None

    async def delete(self, phone: str) -> bool:
        status = await self._pool.execute("DELETE FROM jt808_terminals WHERE phone = $1", phone)
        self.invalidate(phone)
        return status.endswith(" 1")

    async def import_terminals(self, terminals: Iterable[Terminal]) -> tuple[int, int]:
        """Create or update every terminal in one transaction; returns (created, updated).
        Issued authentication codes are kept."""
        items = list(terminals)
        async with self._pool.acquire() as conn, conn.transaction():
            records = await conn.fetch(
                """INSERT INTO jt808_terminals AS t (phone, vehicle_id, plate, route_id)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                   ON CONFLICT (phone) DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id,
                       plate = EXCLUDED.plate, route_id = EXCLUDED.route_id, provisional = false,
                       updated_at = now()
                   RETURNING (xmax = 0) AS created""",
                [t.phone for t in items], [t.vehicle_id for t in items],
                [t.plate for t in items], [t.route_id for t in items],
            )
        self.invalidate()
        created = sum(1 for r in records if r["created"])
        return created, len(records) - created

    # -- the protocol's registration and authentication ----------------------------------------

    async def register(self, phone: str, reg: Register, allow_unregistered: bool) -> tuple[int, str | None]:
        """Answer a 0x0100: (0x8100 result, authentication code).  A known terminal keeps the code
        it was issued (a terminal re-registers after a reset), an unknown one is refused with
        result 4 unless provisional terminals are allowed."""
        async with self._pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                "SELECT auth_code FROM jt808_terminals WHERE phone = $1 FOR UPDATE", phone)
            if record is None:
                if not allow_unregistered:
                    return REGISTER_NO_TERMINAL, None
                await conn.execute(
                    """INSERT INTO jt808_terminals (phone, vehicle_id, plate, provisional)
                       VALUES ($1, $2, $3, true) ON CONFLICT (phone) DO NOTHING""",
                    phone, provisional_vehicle_id(phone), reg.plate or None,
                )
                code = None
            else:
                code = record["auth_code"]
            code = code or new_auth_code()
            await conn.execute(
                """UPDATE jt808_terminals SET auth_code = $2, edition = $3, maker_id = $4, model = $5,
                       device_id = $6, registered_plate = $7, registered_at = now()
                   WHERE phone = $1""",
                phone, code, reg.edition, reg.maker_id, reg.model, reg.terminal_id, reg.plate,
            )
        self.invalidate(phone)
        return REGISTER_OK, code

    async def authenticate(self, phone: str, code: str) -> Terminal | None:
        """The terminal of a 0x0102 whose code matches the one issued (constant-time compare)."""
        row = await self.find_row(phone)
        if row is None or row.auth_code is None:
            return None
        if not hmac.compare_digest(row.auth_code.encode(), code.encode()):
            return None
        await self._pool.execute(
            "UPDATE jt808_terminals SET authenticated_at = now() WHERE phone = $1", phone)
        self._cache[phone] = (time.monotonic(), row.terminal)
        return row.terminal

    async def logout(self, phone: str) -> None:
        """0x0003: the terminal leaves its vehicle; it must register again before authenticating."""
        await self._pool.execute(
            "UPDATE jt808_terminals SET auth_code = NULL, updated_at = now() WHERE phone = $1", phone)
        self.invalidate(phone)

    def statistics(self) -> dict[str, int]:
        return {"cached": len(self._cache), "lookups": self.lookups, "misses": self.misses}
