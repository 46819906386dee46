"""Control modes: the GA/T 1049.2 codes, the GB/T 20999 running modes mapped onto them, and which
of them count as real-time signal timing.

GA/T 1049.2 (centre-to-platform protocol) reports a cross's control mode (``CrossModePlan``) as a
two-digit code.  GB/T 20999-2017 (controller-to-host protocol, annex A.2.11 运行模式) reports a
one-byte running mode.  Both are mapped onto one model, the GA/T 1049.2 code, keeping the original
code beside it.  The mapping (documented in docs/signals.md):

===========  ====================  ==========  ==========================================
GB/T 20999   meaning               GA/T 1049   why
===========  ====================  ==========  ==========================================
0x11         中心日计划控制         21          a day plan from the centre is fixed-time
0x12         中心优化控制           41          centrally optimised (area coordination)
0x13         中心协调控制           41          centre coordination
0x14         中心自适应控制         23          adaptive
0x15         中心手动控制           01          manual
0x21         本地定周期控制         21          fixed-time
0x22         本地感应控制           22          actuated
0x23         本地协调控制           31          local (time-based) line coordination
0x24         本地自适应控制         23          adaptive
0x25         本地手动控制           01          manual
0x31         黄闪控制               13          yellow flash
0x32         全红控制               12          all red
0x33         关灯控制               11          lamps off
===========  ====================  ==========  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ModeCategory(StrEnum):
    """What a mode means for the bureau's count."""

    ACTUATED = "actuated"
    ADAPTIVE = "adaptive"
    CENTRAL = "centrally_optimised"
    COORDINATED_ADAPTIVE = "coordinated_adaptive"
    FIXED_TIME = "fixed_time"
    MANUAL = "manual"
    FLASH = "yellow_flash"
    ALL_RED = "all_red"
    LAMPS_OFF = "lamps_off"
    UNKNOWN = "unknown"


REALTIME_CATEGORIES = frozenset({
    ModeCategory.ACTUATED, ModeCategory.ADAPTIVE, ModeCategory.CENTRAL, ModeCategory.COORDINATED_ADAPTIVE,
})
#: Lamps dark or flashing: the junction is not being timed at all.
FAILURE_CATEGORIES = frozenset({ModeCategory.FLASH, ModeCategory.LAMPS_OFF})

CATEGORY_NAMES_ZH = {
    ModeCategory.ACTUATED: "感应控制",
    ModeCategory.ADAPTIVE: "自适应控制",
    ModeCategory.CENTRAL: "中心优化/区域协调",
    ModeCategory.COORDINATED_ADAPTIVE: "协调自适应/感应协调",
    ModeCategory.FIXED_TIME: "定时控制",
    ModeCategory.MANUAL: "手动控制",
    ModeCategory.FLASH: "黄闪",
    ModeCategory.ALL_RED: "全红",
    ModeCategory.LAMPS_OFF: "关灯",
    ModeCategory.UNKNOWN: "未知",
}


@dataclass(frozen=True, slots=True)
class ControlMode:
    code: str  # GA/T 1049.2 two-digit code
    name_zh: str
    name_en: str
    category: ModeCategory

    @property
    def realtime(self) -> bool:
        return self.category in REALTIME_CATEGORIES


GAT1049_MODES: dict[str, ControlMode] = {m.code: m for m in (
    ControlMode("01", "本地手动控制", "local manual", ModeCategory.MANUAL),
    ControlMode("11", "特殊控制-关灯", "lamps off", ModeCategory.LAMPS_OFF),
    ControlMode("12", "特殊控制-全红", "all red", ModeCategory.ALL_RED),
    ControlMode("13", "特殊控制-黄闪", "yellow flash", ModeCategory.FLASH),
    ControlMode("21", "单点定时控制", "fixed-time", ModeCategory.FIXED_TIME),
    ControlMode("22", "单点感应控制", "actuated", ModeCategory.ACTUATED),
    ControlMode("23", "单点自适应控制", "adaptive", ModeCategory.ADAPTIVE),
    ControlMode("31", "线协调定时控制", "line coordination, fixed-time", ModeCategory.FIXED_TIME),
    ControlMode("32", "线协调感应控制", "line coordination, actuated", ModeCategory.COORDINATED_ADAPTIVE),
    ControlMode("33", "线协调自适应控制", "line coordination, adaptive", ModeCategory.COORDINATED_ADAPTIVE),
    ControlMode("41", "区域协调控制", "area coordination (centrally optimised)", ModeCategory.CENTRAL),
)}

#: GB/T 20999-2017 running mode (A.2.11) -> GA/T 1049.2 code.
GB20999_TO_GAT1049: dict[int, str] = {
    0x11: "21", 0x12: "41", 0x13: "41", 0x14: "23", 0x15: "01",
    0x21: "21", 0x22: "22", 0x23: "31", 0x24: "23", 0x25: "01",
    0x31: "13", 0x32: "12", 0x33: "11",
}
GB20999_NAMES_ZH: dict[int, str] = {
    0x11: "中心日计划控制", 0x12: "中心优化控制", 0x13: "中心协调控制", 0x14: "中心自适应控制",
    0x15: "中心手动控制", 0x21: "本地定周期控制", 0x22: "本地感应控制", 0x23: "本地协调控制",
    0x24: "本地自适应控制", 0x25: "本地手动控制", 0x31: "黄闪控制", 0x32: "全红控制", 0x33: "关灯控制",
}


class UnknownMode(ValueError):
    pass


def parse_gat1049_mode(value: object) -> ControlMode:
    """``"22"``, ``22`` or ``"1"`` (for 01) -> the mode; UnknownMode names the bad value."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnknownMode(f"ControlMode must be a GA/T 1049.2 code such as \"22\", got {value!r}")
    text = str(value).strip()
    if text.isdigit():
        text = f"{int(text):02d}"
    mode = GAT1049_MODES.get(text)
    if mode is None:
        raise UnknownMode(f"unknown GA/T 1049.2 ControlMode {value!r} "
                          f"(known: {', '.join(sorted(GAT1049_MODES))})")
    return mode


def parse_gb20999_mode(value: object) -> tuple[int, ControlMode]:
    """``"0x22"``, ``34`` or ``"22H"`` -> (the running-mode byte, the mapped mode)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnknownMode(f"RunMode must be a GB/T 20999 running mode such as \"0x22\", got {value!r}")
    if isinstance(value, int):
        byte = value
    else:
        text = value.strip().lower()
        try:
            if text.startswith("0x"):
                byte = int(text, 16)
            elif text.endswith("h"):
                byte = int(text[:-1], 16)
            else:
                byte = int(text)
        except ValueError:
            raise UnknownMode(f"RunMode {value!r} is not a number such as \"0x22\"") from None
    code = GB20999_TO_GAT1049.get(byte)
    if code is None:
        raise UnknownMode(f"unknown GB/T 20999 running mode {value!r} "
                          "(known: 0x11-0x15, 0x21-0x25, 0x31-0x33)")
    return byte, GAT1049_MODES[code]
