"""Triage: a priority for an accepted referral and the flags that gave it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from parsers.types import Form, Value

Priority = Literal["urgent", "soon", "routine"]


@dataclass(frozen=True)
class Triage:
    """``priority`` and the ``flags`` (codes) that raised it; no flags means routine."""

    priority: Priority
    flags: tuple[str, ...]


URGENT_FLAGS = frozenset({"recent_discharge"})
SOON_FLAGS = frozenset({"high_risk_medicines", "lives_alone_without_carer", "miat_total_high"})
MIAT_TOTAL_THRESHOLD = 4
"""A published 13-item tool used a total of 4 or more as its cut-off for needing support (forms-spec.md)."""


def _score_total(miat: Mapping[str, Value]) -> int:
    return sum(
        v
        for k, v in miat.items()
        if k.startswith(("cognitive.", "physical.")) and isinstance(v, int) and not isinstance(v, bool)
    )


def triage(forms: Sequence[Form]) -> Triage:
    """Flags from Form 2 and the MIAT, and the highest priority any flag gives."""
    by_kind = {form.kind: form.fields for form in forms}
    form2, miat = by_kind.get("form2", {}), by_kind.get("miat", {})
    flags: list[str] = []
    if form2.get("risk.recent_discharge") is True:
        flags.append("recent_discharge")
    if form2.get("risk.high_risk_medicines"):
        flags.append("high_risk_medicines")
    lives_alone = miat.get("support.lives_alone") is True or form2.get("patient.lives_alone") is True
    if lives_alone and miat.get("support.carer") in (None, "None"):
        flags.append("lives_alone_without_carer")
    if miat and _score_total(miat) >= MIAT_TOTAL_THRESHOLD:
        flags.append("miat_total_high")
    priority: Priority = "routine"
    if URGENT_FLAGS.intersection(flags):
        priority = "urgent"
    elif SOON_FLAGS.intersection(flags):
        priority = "soon"
    return Triage(priority=priority, flags=tuple(flags))
