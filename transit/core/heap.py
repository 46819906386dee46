"""Keeping the cyclic garbage collector off the service's long-lived state.

The service holds a large, long-lived heap -- the schedule index, the tracker's vehicles, the
current snapshot -- and makes tens of thousands of short-lived objects a second (fixes, response
bodies, prediction rows), almost all freed by reference counting.  With CPython's default
thresholds those allocations set off collections that walk the whole long-lived heap: a quarter
of the tracker writer's time, and on an API node a full collection walks the whole schedule index
(tens of milliseconds with a city's timetable) while every request waits behind it.

:func:`settle_heap` collects what is garbage now, then moves every surviving object into the
permanent generation (``gc.freeze``), so later collections look only at what was made since,
and makes young collections rarer.  Call it after the long-lived state changes wholesale (a new
schedule index swapped in, the tracker started).  It unfreezes first, so the cycles of a
replaced index are found and freed rather than kept for good.  Process-wide and idempotent.
"""

from __future__ import annotations

import gc

#: Young-generation threshold: allocations (net of frees) before a generation-0 collection.
YOUNG_THRESHOLD = 50_000


def settle_heap() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    g0, g1, g2 = gc.get_threshold()
    gc.set_threshold(max(g0, YOUNG_THRESHOLD), max(g1, 20), max(g2, 20))
