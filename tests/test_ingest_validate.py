"""The pure checks every fix passes before storage: one test per rejection kind, and the fast
path agreeing with the careful one on arbitrary fixes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.gps.validate import FixLimits, check_fix, validate_fixes
from transit.core.fix import Fix
from transit.core.rejection import RejectionKind

NOW = 1_750_000_000.0
LIMITS = FixLimits(max_future_s=120.0, max_past_s=86400.0)


def fix(**changes: object) -> Fix:
    base: dict[str, object] = {"vehicle_id": "鲁A·12345", "ts": NOW - 5.0, "lat": 36.712, "lon": 117.541}
    base.update(changes)
    return Fix(**base)  # type: ignore[arg-type]


def only_rejection(f: Fix, **kw: object):
    good, positions, rejections = validate_fixes([fix(vehicle_id="ok"), f], NOW, LIMITS, **kw)  # type: ignore[arg-type]
    assert [g.vehicle_id for g in good] == ["ok"] and positions == [0]
    assert len(rejections) == 1 and rejections[0].index == 1
    return rejections[0]


def test_a_clean_fix_passes_including_chinese_plates() -> None:
    good, positions, rejections = validate_fixes([fix(), fix(speed_mps=0.0, bearing_deg=360.0)], NOW, LIMITS)
    assert len(good) == 2 and positions == [0, 1] and rejections == []


@pytest.mark.parametrize(("changes", "field"), [
    ({"lat": 91.0}, "lat=91.0"),
    ({"lat": -90.5}, "lat=-90.5"),
    ({"lon": 180.01}, "lon=180.01"),
    ({"lat": math.nan}, "lat=nan"),
    ({"lon": math.inf}, "lon=inf"),
    ({"lat": "36.7"}, "lat: expected a number"),
])
def test_impossible_coordinates(changes: dict[str, object], field: str) -> None:
    r = only_rejection(fix(**changes))
    assert r.kind is RejectionKind.INVALID_COORDINATES
    assert field in r.detail and "鲁A·12345" in r.detail


def test_null_island() -> None:
    r = only_rejection(fix(lat=0.0, lon=0.0))
    assert r.kind is RejectionKind.NULL_ISLAND
    assert "(0.0, 0.0)" in r.detail


def test_a_fix_beside_null_island_is_a_place() -> None:
    assert check_fix(fix(lat=0.0, lon=9.5), NOW, LIMITS) is None


def test_future_timestamp_names_the_margin() -> None:
    r = only_rejection(fix(ts=NOW + 600.0))
    assert r.kind is RejectionKind.FUTURE_TIMESTAMP
    assert "600 s ahead" in r.detail and "at most 120 s" in r.detail
    assert check_fix(fix(ts=NOW + 119.0), NOW, LIMITS) is None


def test_stale_timestamp() -> None:
    r = only_rejection(fix(ts=NOW - 2 * 86400.0))
    assert r.kind is RejectionKind.STALE_TIMESTAMP
    assert "172800 s older" in r.detail


def test_unknown_vehicle_when_the_source_requires_registration() -> None:
    r = only_rejection(fix(vehicle_id="ghost"), known_vehicles={"ok", "鲁A·12345"})
    assert r.kind is RejectionKind.UNKNOWN_VEHICLE
    assert "'ghost'" in r.detail


def test_missing_vehicle_id() -> None:
    r = only_rejection(fix(vehicle_id=""))
    assert r.kind is RejectionKind.MISSING_FIELD
    assert "vehicle_id" in r.detail


@pytest.mark.parametrize(("changes", "named"), [
    ({"speed_mps": -1.0}, "speed_mps=-1.0"),
    ({"speed_mps": 1820.0}, "speed_mps=1820.0"),  # JT/T 808 0xFFFF * 0.1 km/h
    ({"bearing_deg": 400.0}, "bearing_deg=400.0"),
    ({"odometer_m": -5.0}, "odometer_m=-5.0"),
    ({"trip_id": "t\x001"}, "trip_id: contains a NUL"),
    ({"label": "\ud800"}, "label: is not valid Unicode"),
    ({"route_id": "r" * 500}, "route_id: 500 characters"),
    ({"vehicle_id": "v\x00"}, "vehicle_id: contains a NUL"),
    ({"ts": math.nan}, "ts: expected POSIX seconds"),
])
def test_bad_values_are_named(changes: dict[str, object], named: str) -> None:
    r = only_rejection(fix(**changes))
    assert r.kind is RejectionKind.BAD_VALUE
    assert named in r.detail


_fixes = st.builds(
    Fix,
    vehicle_id=st.one_of(st.text(max_size=6), st.sampled_from(["bus-1", "鲁A·12345"])),
    ts=st.one_of(st.floats(allow_nan=True), st.floats(NOW - 200_000, NOW + 500), st.integers(0, 2**40)),
    lat=st.one_of(st.floats(allow_nan=True), st.floats(-95, 95), st.just(0.0)),
    lon=st.one_of(st.floats(allow_nan=True), st.floats(-185, 185), st.just(0.0)),
    speed_mps=st.one_of(st.none(), st.floats(-5, 120), st.integers(-1, 200)),
    bearing_deg=st.one_of(st.none(), st.floats(-10, 400)),
    trip_id=st.one_of(st.none(), st.text(max_size=4)),
    label=st.one_of(st.none(), st.text(max_size=140)),
    odometer_m=st.one_of(st.none(), st.floats(-1, 1e6)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_fixes, max_size=8))
def test_the_fast_path_agrees_with_check_fix(batch: list[Fix]) -> None:
    _, positions, rejections = validate_fixes(batch, NOW, LIMITS)
    expected_good = [i for i, f in enumerate(batch) if check_fix(f, NOW, LIMITS) is None]
    assert positions == expected_good
    assert [r.index for r in rejections] == [i for i in range(len(batch)) if i not in expected_good]
    for r in rejections:
        found = check_fix(batch[r.index], NOW, LIMITS)
        assert found is not None and (r.kind, r.detail) == found
