"""Triage: every accepted referral gets a priority and the flags that explain it, by rules in configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.triage import TriageRules, TriageRulesError, load_triage_rules
from rules.triage import triage

from .test_decide import form

RULES = load_triage_rules()
QUIET = {"risk.recent_discharge": False, "risk.high_risk_medicines": None, "patient.lives_alone": False}
CALM_MIAT = {
    "support.lives_alone": False,
    **{f"cognitive.c{i}": 0 for i in range(1, 7)},
    **{f"physical.p{i}": 0 for i in range(1, 8)},
}


def forms(form2: dict[str, object] | None = None, miat: dict[str, object] | None = None) -> list:  # type: ignore[type-arg]
    return [form("form2", {**QUIET, **(form2 or {})}), form("form1"), form("miat", {**CALM_MIAT, **(miat or {})})]  # type: ignore[dict-item]


def test_a_referral_with_no_flags_is_routine() -> None:
    result = triage(forms(), RULES)
    assert (result.priority, result.flags) == ("routine", ())


def test_a_recent_hospital_discharge_is_urgent() -> None:
    result = triage(forms({"risk.recent_discharge": True, "risk.high_risk_medicines": ("Insulin",)}), RULES)
    assert result.priority == "urgent"
    assert result.flags == ("recent_discharge", "high_risk_medicines")


@pytest.mark.parametrize(
    ("form2", "miat", "flag"),
    [
        ({"risk.high_risk_medicines": ("Anticoagulant",)}, {}, "high_risk_medicines"),
        ({}, {"support.lives_alone": True, "support.carer": "None"}, "lives_alone_without_carer"),
        ({}, {"cognitive.c1": 2, "cognitive.c2": 2}, "miat_total_high"),
        ({}, {"outcome": "Refer to GP for review"}, "assessor_refer_to_gp"),
    ],
)
def test_each_soon_flag_makes_the_referral_soon_and_says_why(
    form2: dict[str, object], miat: dict[str, object], flag: str
) -> None:
    result = triage(forms(form2, miat), RULES)
    assert result.priority == "soon"
    assert flag in result.flags


def test_living_alone_with_a_carer_is_not_a_flag() -> None:
    result = triage(forms(miat={"support.lives_alone": True, "support.carer": "Formal care package"}), RULES)
    assert "lives_alone_without_carer" not in result.flags


def test_a_miat_total_just_under_the_threshold_raises_nothing() -> None:
    result = triage(forms(miat={"cognitive.c1": 2, "physical.p1": 1}), RULES)
    assert "miat_total_high" not in result.flags


def test_thresholds_and_priorities_come_from_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "triage.toml"
    path.write_text('[priorities]\nurgent = ["miat_total_high"]\n[thresholds]\nmiat_total = 2\n')
    rules = load_triage_rules(path)
    result = triage(forms(miat={"cognitive.c1": 2}), rules)
    assert (result.priority, result.flags) == ("urgent", ("miat_total_high",))
    assert triage(forms({"risk.recent_discharge": True}), rules).priority == "routine"


def test_an_informational_flag_is_shown_but_leaves_the_priority_routine() -> None:
    result = triage(forms(miat={"storage.concerns": ("Stockpiling",)}), RULES)
    assert (result.priority, result.flags) == ("routine", ("storage_concerns",))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[priorities]\nurgent = ["no_such_flag"]\n', "no_such_flag"),
        ('[priorities]\ncritical = ["recent_discharge"]\n', "priorities.critical"),
        ("[thresholds]\nmiat_total = 40\n", "thresholds.miat_total"),
        ("[thresholds]\nmiat_totl = 4\n", "thresholds.miat_totl"),
        ('[priorities]\nurgent = ["recent_discharge"]\nsoon = ["recent_discharge"]\n', "recent_discharge"),
        ("[prioritys]\n", "prioritys"),
        ("[priorities\n", "triage.toml"),
    ],
)
def test_a_mistake_in_the_triage_file_is_named_at_load_time(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "triage.toml"
    path.write_text(text)
    with pytest.raises(TriageRulesError, match=names):
        load_triage_rules(path)


def test_the_packaged_rules_know_every_flag_they_give_a_priority() -> None:
    assert set(RULES.priorities) <= RULES.flags
    assert isinstance(RULES, TriageRules)
