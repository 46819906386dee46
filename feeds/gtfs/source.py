"""Reading a GTFS feed from a zip file or a folder, without unpacking it to disk."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


class GtfsSource:
    """A zip or a folder of ``*.txt`` files.  Files may sit in one sub-folder of the zip."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if self.path.is_dir():
            for child in sorted(self.path.iterdir()):
                if child.suffix == ".txt" and child.is_file():
                    self._names[child.name] = str(child)
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            for info in self._zip.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base.endswith(".txt") and not info.is_dir() and base not in self._names:
                    self._names[base] = info.filename
        elif self.path.exists():
            raise ValueError(f"{self.path} is neither a zip file nor a folder")
        else:
            raise FileNotFoundError(f"{self.path} does not exist")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> GtfsSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, name: str) -> bool:
        return name in self._names

    def names(self) -> list[str]:
        return sorted(self._names)

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self._names[name]).file_size
        return Path(self._names[name]).stat().st_size

    def open(self, name: str) -> BinaryIO:
        if self._zip is not None:
            return self._zip.open(self._names[name])  # type: ignore[return-value]
        return open(self._names[name], "rb")

    def header(self, name: str) -> list[str]:
        """The column names of the first line, BOM and surrounding spaces stripped."""
        with self.open(name) as fh:
            first = fh.readline(1 << 16).decode("utf-8-sig", errors="replace")
        row = next(csv.reader([first]), [])
        return [column.strip() for column in row]

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    def chunks(self, name: str, on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
        with self.open(name) as fh:
            while True:
                block = fh.read(CHUNK)
                if not block:
                    return
                if on_bytes is not None:
                    on_bytes(len(block))
                yield block

    def archive(self) -> tuple[bytes, str]:
        """The feed as zip bytes (the original zip, or the folder zipped) and its SHA-256."""
        if self._zip is not None:
            data = self.path.read_bytes()
        else:
            buf = io.BytesIO()
            # level 1: several times faster than the default, and a GTFS still shrinks ~5x
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
                for name, full in self._names.items():
                    out.write(full, arcname=name)
            data = buf.getvalue()
        return data, hashlib.sha256(data).hexdigest()


def iter_rows(source: GtfsSource, name: str) -> Iterator[dict[str, str]]:
    """Parse a file in Python (for the small files the importer reads before COPY)."""
    with source.open(name) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        header = [c.strip() for c in next(reader, [])]
        for row in reader:
            if row:
                yield {k: v.strip() for k, v in zip(header, row, strict=False)}
