"""Demo hooks: each "pkg.module:setup_demo" sets up its part of the demo before the app starts.

Signature: ``setup_demo(app: web.Application, services: Services, notes: list[str]) -> None``.
A hook may register background simulation with ``app.cleanup_ctx`` and append lines for the
demo to print (keys, URLs) to ``notes``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

log = logging.getLogger(__name__)

DEMO_HOOKS: tuple[str, ...] = ("feeds.fares.demo:setup_demo", "transit.reports.demo:setup_demo",
                              "signals.demo:setup_demo", "display.demo:setup_demo")


def run_demo_hooks(app: Any, services: Any, notes: list[str], hooks: tuple[str, ...] | None = None) -> list[str]:
    """Call every hook in order; a failing hook is logged and noted, and the demo goes on without
    its part.  Returns the hooks that failed."""
    failed: list[str] = []
    for path in DEMO_HOOKS if hooks is None else hooks:
        module, _, name = path.partition(":")
        try:
            hook = getattr(importlib.import_module(module), name)
            hook(app, services, notes)
        except Exception as exc:
            log.exception("demo hook %s failed", path)
            notes.append(f"(demo part {path} failed to start: {type(exc).__name__}: {exc})")
            failed.append(path)
    return failed
