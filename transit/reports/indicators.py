"""What an indicator result is: a ratio of counts against the 4-star and 5-star targets.

Targets are exact fractions compared with exact fractions of the counts, so 7 of 10 lines is
70 % and meets "达到70%" however the float rounds, and 20 of 100 stops does not meet "超过20%".
The star rating follows the policy's table: the 4-star target met gives 4 stars, the 5-star
target 5; indicator 2 needs both of its parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    share: Fraction
    #: True for "超过" (over): the value must exceed the share; False for "达到" (reach).
    strict: bool = False

    def met(self, numerator: int, denominator: int) -> bool:
        if denominator <= 0:
            return False
        value = Fraction(numerator, denominator)
        return value > self.share if self.strict else value >= self.share

    @property
    def label(self) -> str:
        pct = f"{float(self.share * 100):g}%"
        return f"超过{pct} (> {pct})" if self.strict else f"达到{pct} (≥ {pct})"

    def as_json(self) -> dict[str, Any]:
        return {"share": float(self.share), "strict": self.strict, "label": self.label}


def pct(share: float) -> Target:
    return Target(Fraction(share).limit_denominator(1000))


def over(share: float) -> Target:
    return Target(Fraction(share).limit_denominator(1000), strict=True)


@dataclass(frozen=True, slots=True)
class NotCounted:
    """One thing left out of an indicator's numerator (or denominator), and why."""

    kind: str  # "line", "stop", "board", "channel", "intersection"
    id: str
    name: str
    reason: str
    #: Figures behind the reason (shares, counts) for tables and sorting.
    figures: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "reason": self.reason, **dict(self.figures)}


@dataclass(frozen=True)
class Indicator:
    key: str  # "realtime_prediction_rate", ...
    number: int  # the indicator's number in the policy's attachment
    part: str  # "a", "b" for indicator 2; "" otherwise
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    numerator: int
    denominator: int
    four_star: Target
    five_star: Target
    not_counted: tuple[NotCounted, ...] = ()
    #: Breakdown rows (per line, per channel, per stop ...) by table name.
    tables: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: False when the inputs for this indicator are not available in this deployment.
    available: bool = True

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator > 0 and self.available else None

    @property
    def four_star_met(self) -> bool:
        return self.available and self.four_star.met(self.numerator, self.denominator)

    @property
    def five_star_met(self) -> bool:
        return self.available and self.five_star.met(self.numerator, self.denominator)

    @property
    def stars(self) -> int:
        return 5 if self.five_star_met and self.four_star_met else 4 if self.four_star_met else 0

    @property
    def ident(self) -> str:
        return f"{self.number}{self.part}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.ident, "number": self.number, "part": self.part, "key": self.key,
            "name_zh": self.name_zh, "name_en": self.name_en, "unit_zh": self.unit_zh, "unit_en": self.unit_en,
            "available": self.available,
            "numerator": self.numerator, "denominator": self.denominator, "value": self.value,
            "four_star": {**self.four_star.as_json(), "met": self.four_star_met},
            "five_star": {**self.five_star.as_json(), "met": self.five_star_met},
            "stars": self.stars,
            "notes": list(self.notes),
            "not_counted": [n.as_json() for n in self.not_counted],
            "tables": {k: [dict(r) for r in v] for k, v in self.tables.items()},
        }


def unavailable(template: Indicator, why: str) -> Indicator:
    """The indicator with no figures, saying why (its inputs are not part of this deployment)."""
    return Indicator(
        key=template.key, number=template.number, part=template.part, name_zh=template.name_zh,
        name_en=template.name_en, unit_zh=template.unit_zh, unit_en=template.unit_en, numerator=0,
        denominator=0, four_star=template.four_star, five_star=template.five_star, notes=(why,),
        available=False,
    )


@dataclass(frozen=True, slots=True)
class Rating:
    number: int
    name_zh: str
    name_en: str
    stars: int
    parts: tuple[str, ...]
    available: bool

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "name_zh": self.name_zh, "name_en": self.name_en, "stars": self.stars,
                "parts": list(self.parts), "available": self.available}


def rate(indicators: Sequence[Indicator], names: Mapping[int, tuple[str, str]]) -> list[Rating]:
    """Stars per policy indicator: the lowest of its parts (indicator 2 needs both parts met)."""
    out: list[Rating] = []
    for number in sorted({i.number for i in indicators}):
        parts = [i for i in indicators if i.number == number]
        zh, en = names.get(number, (parts[0].name_zh, parts[0].name_en))
        out.append(Rating(number, zh, en, min(p.stars for p in parts), tuple(p.ident for p in parts),
                          all(p.available for p in parts)))
    return out
