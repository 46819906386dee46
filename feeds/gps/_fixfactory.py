"""``new_fix``: builds a :class:`Fix` twice as fast as ``Fix(...)``, same positional signature.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about 70 ns a
field); decoders that turn a city-wide GTFS-Realtime feed into fixes spend a third of their time
there.  Setting the slots through their descriptors does the same job without the detour.  The
function is generated from ``dataclasses.fields(Fix)``, so a field added to Fix later is picked up
(with its default); if Fix stops being a slots dataclass, ``new_fix`` is simply ``Fix``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from transit.core.fix import Fix


def _build() -> Callable[..., Fix]:
    fields = dataclasses.fields(Fix)
    setters: dict[str, Any] = {}
    params = []
    body = ["    o = _new(_Fix)"]
    for i, f in enumerate(fields):
        slot = Fix.__dict__.get(f.name)
        if slot is None or not hasattr(slot, "__set__") or type(slot).__name__ != "member_descriptor":
            return Fix
        setters[f"_s{i}"] = slot.__set__
        if f.default is not dataclasses.MISSING:
            setters[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            return Fix
        else:
            params.append(f.name)
        body.append(f"    _s{i}(o, {f.name})")
    body.append("    return o")
    source = f"def new_fix({', '.join(params)}):\n" + "\n".join(body) + "\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_Fix": Fix, **setters}
    exec(source, namespace)  # generated from the dataclass fields, as dataclasses does
    new_fix: Callable[..., Fix] = namespace["new_fix"]
    return new_fix


new_fix: Callable[..., Fix] = _build()
