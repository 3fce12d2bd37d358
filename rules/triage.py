"""Triage: a priority for an accepted referral and the flags that gave it, by rules the team configures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from config.triage import PRIORITIES, Priority, TriageRules
from parsers.types import Form
from rules.crossform import miat_scores

__all__ = ["Priority", "Triage", "triage"]


@dataclass(frozen=True)
class Triage:
    """``priority`` and every ``flag`` raised (codes, in a fixed order); the flags explain the priority."""

    priority: Priority
    flags: tuple[str, ...]


def triage(forms: Sequence[Form], rules: TriageRules) -> Triage:
    """Flags from Form 2 and the MIAT, and the highest priority ``rules`` give any of them (else routine)."""
    by_kind = {form.kind: form.fields for form in forms}
    form2, miat = by_kind.get("form2", {}), by_kind.get("miat", {})
    thresholds = rules.thresholds
    flags: list[str] = []
    if form2.get("risk.recent_discharge") is True:
        flags.append("recent_discharge")
    if form2.get("risk.high_risk_medicines"):
        flags.append("high_risk_medicines")
    count = form2.get("risk.medicines_count")
    if _at_least(count, thresholds.get("medicines_count")):
        flags.append("many_medicines")
    lives_alone = miat.get("support.lives_alone") is True or form2.get("patient.lives_alone") is True
    # Without a MIAT answer the carer support is unknown: only a stated "None" counts as no support.
    if lives_alone and miat.get("support.carer") == "None":
        flags.append("lives_alone_without_carer")
    if miat:
        scores = miat_scores(miat)
        for name, value in (("total", scores.total), ("cognitive", scores.cognitive), ("physical", scores.physical)):
            if _at_least(value, thresholds.get(f"miat_{name}")):
                flags.append(f"miat_{name}_high")
        if miat.get("storage.concerns"):
            flags.append("storage_concerns")
        outcome = miat.get("outcome")
        if isinstance(outcome, str) and outcome in rules.assessor_outcomes:
            flags.append(rules.assessor_outcomes[outcome])
    given = {rules.priorities[flag] for flag in flags if flag in rules.priorities}
    priority: Priority = next((level for level in PRIORITIES if level in given), "routine")
    return Triage(priority=priority, flags=tuple(dict.fromkeys(flags)))


def _at_least(value: object, threshold: int | None) -> bool:
    return threshold is not None and isinstance(value, int) and not isinstance(value, bool) and value >= threshold
