"""Triage rules as data: which flags raise which priority, and the thresholds behind the score flags.

The rules live in ``config/triage.toml`` so the team can change them without a code change. This module reads
the file into a frozen ``TriageRules`` and checks it once, at load time, naming the key of any mistake.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

Priority = Literal["urgent", "soon", "routine"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

BUILT_IN_FLAGS = frozenset(
    {
        "recent_discharge",
        "high_risk_medicines",
        "many_medicines",
        "lives_alone_without_carer",
        "miat_total_high",
        "miat_cognitive_high",
        "miat_physical_high",
        "storage_concerns",
    }
)
"""The flags the rules compute from the forms; [assessor_outcomes] adds one flag per outcome it names."""

THRESHOLD_RANGES: Mapping[str, tuple[int, int]] = {
    "miat_total": (0, 26),
    "miat_cognitive": (0, 12),
    "miat_physical": (0, 14),
    "medicines_count": (0, 60),
}


class TriageRulesError(ValueError):
    """Raised when the triage file is not valid; the message names the file and the key."""


@dataclass(frozen=True)
class TriageRules:
    """What each flag is worth and when the score flags are raised.

    ``priorities`` maps a flag to the priority it gives (flags absent give none); ``thresholds`` holds the
    value at or over which ``miat_total_high``, ``miat_cognitive_high``, ``miat_physical_high`` and
    ``many_medicines`` are raised; ``assessor_outcomes`` maps a MIAT outcome to the flag it raises.
    """

    priorities: Mapping[str, Priority] = field(default_factory=dict)
    thresholds: Mapping[str, int] = field(default_factory=dict)
    assessor_outcomes: Mapping[str, str] = field(default_factory=dict)

    @property
    def flags(self) -> frozenset[str]:
        """Every flag these rules can raise."""
        return BUILT_IN_FLAGS | frozenset(self.assessor_outcomes.values())


def load_triage_rules(path: Path | None = None) -> TriageRules:
    """Read the triage rules from ``path`` (default: the packaged ``config/triage.toml``)."""
    if path is None:
        with resources.as_file(resources.files("config") / "triage.toml") as packaged:
            return _load(Path(packaged))
    return _load(path)


def _load(path: Path) -> TriageRules:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TriageRulesError(f"{path.name}: {exc}") from exc
    unknown = set(raw) - {"priorities", "thresholds", "assessor_outcomes"}
    if unknown:
        raise TriageRulesError(f"{path.name}: unknown section {sorted(unknown)[0]!r}")
    outcomes = _strings(raw.get("assessor_outcomes", {}), path, "assessor_outcomes")
    thresholds = _thresholds(raw.get("thresholds", {}), path)
    rules = TriageRules(priorities={}, thresholds=thresholds, assessor_outcomes=outcomes)
    priorities: dict[str, Priority] = {}
    for level, flags in raw.get("priorities", {}).items():
        if level not in PRIORITIES:
            raise TriageRulesError(f"{path.name}: priorities.{level} is not one of {', '.join(PRIORITIES)}")
        if not isinstance(flags, list):
            raise TriageRulesError(f"{path.name}: priorities.{level} must be a list of flags")
        for flag in flags:
            if flag not in rules.flags:
                raise TriageRulesError(f"{path.name}: priorities.{level} names unknown flag {flag!r}")
            if flag in priorities:
                raise TriageRulesError(f"{path.name}: flag {flag!r} is given two priorities")
            priorities[flag] = level
    return TriageRules(priorities=priorities, thresholds=thresholds, assessor_outcomes=outcomes)


def _thresholds(raw: Any, path: Path) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise TriageRulesError(f"{path.name}: thresholds must be a table")
    thresholds: dict[str, int] = {}
    for key, value in raw.items():
        if key not in THRESHOLD_RANGES:
            raise TriageRulesError(f"{path.name}: thresholds.{key} is not a known threshold")
        low, high = THRESHOLD_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise TriageRulesError(f"{path.name}: thresholds.{key} must be a whole number from {low} to {high}")
        thresholds[key] = value
    return thresholds


def _strings(raw: Any, path: Path, section: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise TriageRulesError(f"{path.name}: {section} must map each outcome to a flag name")
    return dict(raw)
