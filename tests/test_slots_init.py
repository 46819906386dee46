"""The fast constructor of frozen slots dataclasses builds the same values as the class."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from feeds.gps._fixfactory import new_fix
from transit.core.fix import Fix
from transit.core.slots_init import slots_constructor


def test_new_fix_equals_fix_with_positional_keyword_and_default_arguments() -> None:
    assert new_fix is not Fix
    assert new_fix("bus-1", 10.0, 36.7, 117.5) == Fix("bus-1", 10.0, 36.7, 117.5)
    made = new_fix("bus-1", 10.0, 36.7, 117.5, speed_mps=3.0, source="jt808", live=False)
    assert made == Fix("bus-1", 10.0, 36.7, 117.5, speed_mps=3.0, source="jt808", live=False)
    assert made.bearing_deg is None and made.speed_mps == 3.0 and not made.live
    with pytest.raises(TypeError):
        new_fix("bus-1", 10.0)  # lat and lon are required, as for Fix
    with pytest.raises(AttributeError):
        made.lat = 0.0  # type: ignore[misc]  # still frozen


def test_classes_it_cannot_build_faithfully_are_returned_as_they_are() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = field(default_factory=list)

    @dataclass(frozen=True)
    class NoSlots:
        value: int

    for cls in (Checked, WithFactory, NoSlots):
        assert slots_constructor(cls) is cls
