"""Controller status messages in JSON, modelled on GA/T 1049.2 (交通信号控制系统与平台的通信协议):
``CrossState``, ``CrossModePlan`` and ``CrossCycle``, with GB/T 20999 running modes accepted in
``CrossModePlan`` as ``RunMode``.

A body is a list of messages, ``{"messages": [...]}`` or one message.  Each message either names
its type (``{"type": "CrossCycle", "CrossID": ..., ...}``) or is wrapped as in the protocol's
object list (``{"CrossCycle": {"CrossID": ..., ...}}``)::

    {"type": "CrossState",    "CrossID": "ZQ-001", "Value": "Online", "time": "2026-05-01T08:00:00+08:00"}
    {"type": "CrossModePlan", "CrossID": "ZQ-001", "ControlMode": "23", "PlanNo": 4, "time": ...}
    {"type": "CrossModePlan", "CrossID": "ZQ-001", "RunMode": "0x24", "PlanNo": 4, "time": ...}
    {"type": "CrossCycle",    "CrossID": "ZQ-001", "StartTime": "2026-05-01T08:01:40+08:00", "LastCycleLen": 96}

``CrossID`` is the controller id as registered on the intersection.  ``time`` defaults to
``StartTime`` for CrossCycle.  Times without an offset are in the service's time zone.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from signals.modes import UnknownMode, parse_gat1049_mode, parse_gb20999_mode
from transit.core.rejection import Rejection, RejectionKind

KINDS = {"CrossState": "state", "CrossModePlan": "mode", "CrossCycle": "cycle"}
STATES = {"online": "Online", "offline": "Offline", "error": "Error"}
MAX_CYCLE_LEN_S = 600.0


@dataclass(frozen=True, slots=True)
class StatusMessage:
    controller_id: str
    ts: float  # POSIX seconds
    kind: str  # "state" | "mode" | "cycle"
    state: str | None = None  # Online | Offline | Error
    mode: str | None = None  # GA/T 1049.2 code
    mode_source: str | None = None  # as received: "GAT1049:22" or "GB20999:0x22"
    plan_no: int | None = None
    cycle_len_s: float | None = None


class MessageError(Exception):
    """A message that cannot be taken; ``kind`` and ``detail`` become its Rejection."""

    def __init__(self, kind: RejectionKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def parse_instant(value: object, tz: zoneinfo.ZoneInfo, name: str) -> float:
    """ISO 8601 (offset optional: then ``tz``) or POSIX seconds -> POSIX seconds."""
    if isinstance(value, bool) or value is None:
        raise MessageError(RejectionKind.MISSING_FIELD if value is None else RejectionKind.BAD_VALUE,
                   f"{name} is missing" if value is None else f"{name} must be a time, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise MessageError(RejectionKind.BAD_VALUE, f"{name} {value!r} is not a POSIX time")
        return float(value)
    if not isinstance(value, str):
        raise MessageError(RejectionKind.BAD_VALUE, f"{name} must be an ISO 8601 time, got {value!r}")
    text = value.strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MessageError(RejectionKind.BAD_VALUE, f"{name} {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def _field(msg: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in msg:
            return msg[name]
    return None


def _decode_one(raw: object, tz: zoneinfo.ZoneInfo, now: float, max_future_s: float) -> StatusMessage:
    if not isinstance(raw, dict):
        raise MessageError(RejectionKind.MALFORMED, f"a message must be a JSON object, got {type(raw).__name__}")
    msg = raw
    type_name = msg.get("type") or msg.get("Type")
    if type_name is None:
        wrapped = [k for k in KINDS if k in msg]
        if len(wrapped) != 1 or not isinstance(msg[wrapped[0]], dict):
            raise MessageError(RejectionKind.MISSING_FIELD,
                       "message has no type (expected \"type\": CrossState, CrossModePlan or CrossCycle)")
        type_name, msg = wrapped[0], {**msg[wrapped[0]], **{k: v for k, v in msg.items() if k != wrapped[0]}}
    kind = KINDS.get(str(type_name))
    if kind is None:
        raise MessageError(RejectionKind.UNSUPPORTED,
                   f"unknown message type {type_name!r} (expected CrossState, CrossModePlan or CrossCycle)")
    cross = _field(msg, "CrossID", "CrossId", "cross_id", "controller_id")
    if cross is None or (isinstance(cross, str) and not cross.strip()):
        raise MessageError(RejectionKind.MISSING_FIELD, f"{type_name} has no CrossID")
    if not isinstance(cross, str | int) or isinstance(cross, bool):
        raise MessageError(RejectionKind.BAD_VALUE, f"CrossID must be a string, got {cross!r}")
    controller = str(cross).strip()
    when_raw = _field(msg, "time", "Time", "ts", "timestamp")
    if kind == "cycle" and when_raw is None:
        when_raw = _field(msg, "StartTime", "start_time")
    ts = parse_instant(when_raw, tz, "time")
    if ts > now + max_future_s:
        raise MessageError(RejectionKind.FUTURE_TIMESTAMP,
                   f"time {when_raw!r} is {ts - now:.0f} s in the future")
    if kind == "state":
        value = _field(msg, "Value", "value", "State", "state")
        state = STATES.get(str(value).strip().lower()) if isinstance(value, str) else None
        if state is None:
            raise MessageError(RejectionKind.BAD_VALUE if value is not None else RejectionKind.MISSING_FIELD,
                       f"CrossState Value must be Online, Offline or Error, got {value!r}")
        return StatusMessage(controller, ts, kind, state=state)
    if kind == "mode":
        gat = _field(msg, "ControlMode", "control_mode")
        gb = _field(msg, "RunMode", "run_mode", "GB20999RunMode")
        try:
            if gat is not None:
                mode = parse_gat1049_mode(gat)
                source = f"GAT1049:{mode.code}"
            elif gb is not None:
                byte, mode = parse_gb20999_mode(gb)
                source = f"GB20999:0x{byte:02X}"
            else:
                raise MessageError(RejectionKind.MISSING_FIELD,
                           "CrossModePlan needs ControlMode (GA/T 1049.2) or RunMode (GB/T 20999)")
        except UnknownMode as exc:
            raise MessageError(RejectionKind.BAD_VALUE, str(exc)) from None
        plan = _field(msg, "PlanNo", "plan_no", "Plan")
        if plan is not None:
            if isinstance(plan, bool) or not (isinstance(plan, int) or (isinstance(plan, str) and plan.strip().isdigit())):
                raise MessageError(RejectionKind.BAD_VALUE, f"PlanNo must be a whole number, got {plan!r}")
            plan = int(plan)
            if not 0 <= plan <= 9999:
                raise MessageError(RejectionKind.BAD_VALUE, f"PlanNo {plan} is out of range 0-9999")
        return StatusMessage(controller, ts, kind, mode=mode.code, mode_source=source, plan_no=plan)
    length = _field(msg, "LastCycleLen", "CycleLen", "cycle_len_s")
    if length is None:
        raise MessageError(RejectionKind.MISSING_FIELD, "CrossCycle has no LastCycleLen")
    if isinstance(length, bool) or not isinstance(length, int | float | str):
        raise MessageError(RejectionKind.BAD_VALUE, f"LastCycleLen must be seconds, got {length!r}")
    try:
        seconds = float(length)
    except ValueError:
        raise MessageError(RejectionKind.BAD_VALUE, f"LastCycleLen must be seconds, got {length!r}") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_CYCLE_LEN_S):
        raise MessageError(RejectionKind.BAD_VALUE,
                   f"LastCycleLen {length!r} is outside 0-{MAX_CYCLE_LEN_S:.0f} s")
    return StatusMessage(controller, ts, kind, cycle_len_s=seconds)


def messages_of(body: object) -> list[object]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        return body["messages"]
    return [body]


def decode_status(body: object, *, tz: str, now: float,
                  max_future_s: float = 120.0) -> tuple[list[StatusMessage], list[Rejection]]:
    """Decoded messages and the rejections (``index`` = position in the batch, from 0)."""
    zone = zoneinfo.ZoneInfo(tz)
    good: list[StatusMessage] = []
    bad: list[Rejection] = []
    for i, raw in enumerate(messages_of(body)):
        try:
            good.append(_decode_one(raw, zone, now, max_future_s))
        except MessageError as exc:
            bad.append(Rejection(i, exc.kind, f"message {i}: {exc.detail}"))
    return good, bad


def controller_ids(messages: Iterable[StatusMessage]) -> set[str]:
    return {m.controller_id for m in messages}
