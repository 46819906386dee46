"""``new_fix``: builds a :class:`Fix` twice as fast as ``Fix(...)``, same signature
(see :mod:`transit.core.slots_init`)."""

from __future__ import annotations

from collections.abc import Callable

from transit.core.fix import Fix
from transit.core.slots_init import slots_constructor

new_fix: Callable[..., Fix] = slots_constructor(Fix)
