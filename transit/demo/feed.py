"""The bundled demo network as a feed: a byte-stable zip of the shipped files, and its import.

The zip is built with fixed timestamps and order, so its SHA-256 depends only on the files'
content.  ``feed_versions.sha256`` of the active version tells whether the database already runs
exactly this network; the demo imports it only when it does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

NETWORK_DIR = Path(__file__).resolve().parent / "network"
_EPOCH = (2025, 1, 1, 0, 0, 0)

log = logging.getLogger(__name__)


def network_files() -> list[Path]:
    files = sorted(NETWORK_DIR.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"the demo network is missing from {NETWORK_DIR}; run "
                                "`python -m transit.demo.make_network`")
    return files


def network_archive() -> tuple[bytes, str]:
    """The demo network as zip bytes and their SHA-256 (hex), identical on every run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in network_files():
            info = zipfile.ZipInfo(path.name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@dataclass(frozen=True, slots=True)
class DemoFeed:
    feed_id: int
    imported: bool  # False: the active version already was the demo network
    replaced: str | None = None  # the source of a non-demo feed that was active before


async def ensure_demo_feed(pool: asyncpg.Pool, folder: Path) -> DemoFeed:
    """Make the demo network the active feed version, importing it only if it is not already."""
    from feeds.gtfs import import_gtfs

    data, sha = network_archive()
    active = await pool.fetchrow("SELECT feed_id, sha256, source FROM feed_versions WHERE status = 'active'")
    if active is not None and active["sha256"] == sha:
        return DemoFeed(int(active["feed_id"]), imported=False)
    path = folder / "zhangqiu-demo-network.zip"
    await asyncio.to_thread(_write, path, data)
    result = await import_gtfs(pool, path)
    replaced = None
    if active is not None and not str(active["source"]).endswith("zhangqiu-demo-network.zip"):
        replaced = str(active["source"])
    log.info("demo network imported", extra={"feed_id": result.feed_id, "sha256": sha})
    return DemoFeed(result.feed_id, imported=True, replaced=replaced)
