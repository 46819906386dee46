"""A progress bar on a terminal; silence elsewhere (logs and pipes get the final counts only)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.total = 0
        self.done = 0
        self._label = ""
        self._last_draw = 0.0

    def start(self, total: int) -> None:
        self.total = max(1, total)
        self.done = 0
        self._draw(force=True)

    def label(self, text: str) -> None:
        self._label = text
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._draw()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        share = min(1.0, self.done / self.total) if self.total else 0.0
        filled = int(share * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        self.stream.write(f"\r{bar} {share:6.1%} {self._label[:30]:<30}")
        self.stream.flush()
