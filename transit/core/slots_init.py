"""``slots_constructor(cls)``: a constructor for a frozen slots dataclass, twice as fast as ``cls(...)``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about 70 ns a
field).  Decoders that turn thousands of wire messages a second into such values -- GTFS-Realtime
entities and JT/T 808 location reports into :class:`~transit.core.fix.Fix`, the reports
themselves -- spent a third of their time there.  Setting the slots through their descriptors
does the same job without the detour.

The constructor takes the same positional and keyword arguments as the dataclass (defaults
included) and is generated from ``dataclasses.fields(cls)``, so a field added later is picked up.
It does not run ``__post_init__``: for a class that has one, or that is not a slots dataclass, or
whose fields use ``default_factory``, the class itself is returned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def slots_constructor(cls: type[T]) -> Callable[..., T]:
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return cls
    setters: dict[str, Any] = {}
    params = []
    body = ["    o = _new(_cls)"]
    for i, f in enumerate(dataclasses.fields(cls)):
        if not f.init:
            return cls
        slot = cls.__dict__.get(f.name)
        if slot is None or type(slot).__name__ != "member_descriptor":
            return cls
        setters[f"_s{i}"] = slot.__set__
        if f.default is not dataclasses.MISSING:
            setters[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            return cls
        else:
            params.append(f.name)
        body.append(f"    _s{i}(o, {f.name})")
    body.append("    return o")
    name = f"new_{cls.__name__.lower()}"
    source = f"def {name}({', '.join(params)}):\n" + "\n".join(body) + "\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # generated from the dataclass fields, as dataclasses itself does
    constructor: Callable[..., T] = namespace[name]
    constructor.__doc__ = f"Same as ``{cls.__name__}(...)``, without the frozen __setattr__ detour."
    return constructor
