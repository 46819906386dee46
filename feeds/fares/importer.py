"""Importing fare batches from bytes or files: decode off the event loop, then store.

A file is read in chunks cut at line ends, each decoded (in a worker thread: pyarrow releases
the GIL) while the previous one is being stored, and each committed on its own.  A killed import
is simply run again: transactions already stored are skipped by id, aggregates replaced.  A
quoted field holding a line break is not split across chunks correctly; fare exports have none,
and such a row is reported as malformed rather than stored wrong.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from feeds.fares.metrics import get_fare_metrics
from feeds.fares.parse import FareBatch, FareLimits, decode_csv, decode_json_bytes
from feeds.fares.store import StoreResult, store_batch
from transit.core.rejection import Rejection
from transit.settings import Settings

CHUNK_BYTES = 32 << 20


def limits_from(settings: Settings, now: float) -> FareLimits:
    return FareLimits(now=now, timezone=settings.timezone, max_amount_fen=settings.fares.max_amount_fen,
                      max_future_s=settings.fares.max_future_s)


def sniff_format(data: bytes, content_type: str = "") -> str:
    if "json" in content_type:
        return "json"
    if "csv" in content_type:
        return "csv"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"[", b"{") else "csv"


def decode(data: bytes, fmt: str, limits: FareLimits, first_line: int = 1) -> FareBatch:
    return decode_json_bytes(data, limits) if fmt == "json" else decode_csv(data, limits, first_line)


@dataclass
class ImportSummary:
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    aggregates: int = 0
    rejected_by_kind: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    batch_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_kind.values())

    def add(self, batch: FareBatch, result: StoreResult | None, keep: int = 1000) -> None:
        self.rows += batch.rows
        if result is not None:
            self.inserted += result.inserted
            self.duplicates += result.duplicates
            self.aggregates += result.aggregates
            self.batch_ids.append(result.batch_id)
        for kind, n in batch.rejected_by_kind.items():
            self.rejected_by_kind[kind] = self.rejected_by_kind.get(kind, 0) + n
        self.rejections.extend(batch.rejections[: max(0, keep - len(self.rejections))])


async def import_batch(pool: asyncpg.Pool, batch: FareBatch, source: str, registry: object | None = None
                       ) -> StoreResult | None:
    """Store a decoded batch (nothing when it has no good rows) and count it in the metrics."""
    result = await store_batch(pool, batch, source) if not batch.empty else None
    if registry is not None:
        get_fare_metrics(registry).count(source, batch, result)  # type: ignore[arg-type]
    return result


def _chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(header + body lines, line number of the header-equivalent line) for each chunk."""
    with path.open("rb") as fh:
        header = fh.readline()
        line = 1
        rest = b""
        while True:
            block = fh.read(chunk_bytes)
            data = rest + block
            if not block:
                if data.strip():
                    yield header + data, line
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            body, rest = data[:cut], data[cut:]
            yield header + body, line
            line += body.count(b"\n")


async def import_file(pool: asyncpg.Pool, path: Path, limits: FareLimits, source: str | None = None,
                      registry: object | None = None, chunk_bytes: int = CHUNK_BYTES) -> ImportSummary:
    started = time.perf_counter()
    source = source or f"file:{path.name}"
    summary = ImportSummary()
    with path.open("rb") as fh:
        head = fh.read(64)
    if path.suffix.lower() == ".json" or sniff_format(head) == "json":
        data = await asyncio.to_thread(path.read_bytes)
        batch = await asyncio.to_thread(decode_json_bytes, data, limits)
        summary.add(batch, await import_batch(pool, batch, source, registry))
        summary.seconds = time.perf_counter() - started
        return summary
    chunks = _chunks(path, chunk_bytes)
    pending: asyncio.Task[FareBatch] | None = None

    def next_task() -> asyncio.Task[FareBatch] | None:
        item = next(chunks, None)
        if item is None:
            return None
        data, first_line = item
        return asyncio.create_task(asyncio.to_thread(decode_csv, data, limits, first_line))

    pending = next_task()
    while pending is not None:
        batch = await pending
        pending = next_task()  # decode the next chunk while this one is stored
        try:
            summary.add(batch, await import_batch(pool, batch, source, registry))
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
    summary.seconds = time.perf_counter() - started
    return summary


def describe(summary: ImportSummary) -> list[str]:
    kinds = ", ".join(f"{k} {n}" for k, n in collections.Counter(summary.rejected_by_kind).most_common())
    return [
        f"{summary.rows:,} rows in {summary.seconds:.2f} s ({summary.rows / max(summary.seconds, 1e-9):,.0f} rows/s): "
        f"{summary.inserted:,} new transactions, {summary.duplicates:,} already stored, "
        f"{summary.aggregates:,} aggregate records, {summary.rejected:,} rejected" + (f" ({kinds})" if kinds else ""),
    ]
