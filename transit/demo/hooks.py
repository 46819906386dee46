"""Demo hooks: each "pkg.module:setup_demo" sets up its part of the demo before the app starts.

Signature: ``setup_demo(app: web.Application, services: Services, notes: list[str]) -> None``.
A hook may register background simulation with ``app.cleanup_ctx`` and append lines for the
demo to print (keys, URLs) to ``notes``.
"""

from __future__ import annotations

DEMO_HOOKS: tuple[str, ...] = ()
