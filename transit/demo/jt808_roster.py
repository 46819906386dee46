"""Which demo buses carry a JT/T 808 terminal, and what the registry says about each: the SIM
phone, a plate, the terminal's edition and the bus's default line.

Pure (no I/O): the banner counts the day's JT/T 808 buses with it before anything runs, and
``jt808_buses`` writes the same roster into the terminal registry.  Everything is derived from
the bus's number, so a bus keeps its phone and plate from one day, and one run, to the next.
"""

from __future__ import annotations

import functools
import re

from feeds.gps.jt808.packet import EDITION_2013, EDITION_2019
from feeds.gps.jt808.terminal import Terminal
from transit.demo.duties import Duty, build_duties, pick_duties
from transit.demo.motion import DrivingModel
from transit.demo.simulator import duty_vehicle_id
from transit.schedule.index import ScheduleIndex
from transit.schedule.service import local_date


def bus_numbers(vehicle_id: str) -> list[int]:
    return [int(g) for g in re.findall(r"\d+", vehicle_id)]


@functools.lru_cache(maxsize=4096)
def reports_over_jt808(vehicle_id: str, share: int) -> bool:
    """Every ``share``-th bus, by the first number in its id (the same bus every day)."""
    numbers = bus_numbers(vehicle_id)
    return share > 0 and bool(numbers) and numbers[0] % share == 0


def terminal_phone(vehicle_id: str) -> str:
    """The terminal's SIM number: 11 digits, at most 12 as the 2013 header's BCD[6] allows."""
    numbers = bus_numbers(vehicle_id)
    if len(numbers) == 1:
        return f"13953{numbers[0] % 1_000_000:06d}"
    extra = int("".join(str(n) for n in numbers[1:])) % 10_000  # a second bus: zq-0005-0311
    return f"147{extra:04d}{numbers[0] % 10_000:04d}"


def bus_plate(vehicle_id: str) -> str:
    """A Jinan (鲁A) new-energy bus plate, 鲁A·00005D; the same digits as the demo's labels."""
    numbers = bus_numbers(vehicle_id)
    if len(numbers) == 1:
        return f"鲁A·{numbers[0] % 100_000:05d}D"
    extra = int("".join(str(n) for n in numbers[1:])) % 10_000
    return f"鲁A·{extra:04d}{numbers[0] % 10}F"


def terminal_edition(vehicle_id: str, share: int) -> int:
    """Half the terminals speak the 2019 edition, half 2013, as in a fleet bought over years."""
    numbers = bus_numbers(vehicle_id)
    return EDITION_2019 if numbers and (numbers[0] // max(share, 1)) % 2 else EDITION_2013


def duty_line(index: ScheduleIndex, duty: Duty) -> str:
    """A bus's default line: the line of its first trip of the day."""
    return str(index.route_ids[index.trip_route[duty.runs[0].trip]])


def bus_terminal(vehicle_id: str, route_id: str | None) -> Terminal:
    return Terminal(terminal_phone(vehicle_id), vehicle_id, bus_plate(vehicle_id), route_id)


def plan_roster(index: ScheduleIndex, start_ts: float, share: int, *, vehicles: int | None = None,
                prefix: str = "zq-", min_layover_s: float | None = None) -> tuple[list[Terminal], int]:
    """The JT/T 808 buses of the service date of ``start_ts``, and how many buses run that day
    (the simulator's duties: ``min_layover_s`` is its driving model's)."""
    day = local_date(start_ts, index.tz)
    layover = DrivingModel().min_layover_s if min_layover_s is None else min_layover_s
    duties = pick_duties(index, build_duties(index, day, min_layover_s=layover), vehicles)
    roster = [bus_terminal(v, duty_line(index, d)) for d in duties
              if reports_over_jt808(v := duty_vehicle_id(prefix, d), share)]
    return roster, len(duties)
