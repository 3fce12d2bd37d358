"""Every code has words: one sentence for the referrer per problem, one for the team per reason and flag."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.triage import load_triage_rules
from notifier import replies
from rules.decide import UNREAD_MESSAGE_REASONS
from rules.types import Problem
from rules.words import PROBLEM_PHRASES, TEAM_SENTENCES, referrer_sentence, team_sentence

ROOT = Path(__file__).resolve().parents[2]


def _codes_in(paths: list[Path], pattern: str) -> set[str]:
    return {code for path in paths for code in re.findall(pattern, path.read_text())}


RULE_FILES = sorted((ROOT / "rules").glob("*.py"))
PARSER_FILES = sorted((ROOT / "parsers").glob("*.py"))


@pytest.mark.parametrize("code", sorted(PROBLEM_PHRASES))
def test_every_problem_code_reads_as_one_sentence_with_the_printed_label(code: str) -> None:
    sentence = referrer_sentence(Problem(form="form2", field="patient.dob", label="Date of birth", code=code))
    assert sentence.startswith('"Date of birth" ')
    assert sentence.endswith(".")
    assert "_" not in sentence
    assert sentence.count(".") == 1


@pytest.mark.parametrize("code", sorted(TEAM_SENTENCES))
def test_every_reason_warning_and_flag_reads_as_one_sentence_for_the_team(code: str) -> None:
    sentence = team_sentence(code)
    assert sentence[0].isupper()
    assert sentence.endswith(".")
    assert code not in sentence


def test_every_problem_code_the_parsers_and_rules_produce_has_words() -> None:
    parser_codes = _codes_in(PARSER_FILES, r'FieldError\([^)]*?"([a-z_]+)"\)')
    rule_codes = _codes_in(RULE_FILES, r'return "((?:invalid|date|implausible|must)_[a-z_]+)"')
    assert parser_codes
    assert rule_codes
    assert parser_codes | rule_codes | {"missing", "missing_form"} <= set(PROBLEM_PHRASES)


def test_every_reason_the_rules_give_has_a_sentence_for_the_team() -> None:
    reasons = _codes_in(RULE_FILES, r'reasons(?:\.append\(|=\(|\.extend\(\()"([a-z_]+)"')
    reasons |= _codes_in(RULE_FILES, r'(?:warnings\.append\(|return \()"([a-z_]+)"')
    assert {"different_patients", "practice_not_in_list", "miat_score_differs"} <= reasons
    assert reasons <= set(TEAM_SENTENCES)


def test_every_triage_flag_in_the_packaged_rules_has_a_sentence_for_the_team() -> None:
    assert load_triage_rules().flags <= set(TEAM_SENTENCES)


def test_a_flag_added_in_configuration_still_reads_as_words() -> None:
    assert team_sentence("assessor_independent") == "Flag: assessor independent."


def test_replies_take_their_words_from_the_one_source() -> None:
    assert replies.PROBLEM_PHRASES is PROBLEM_PHRASES
    assert replies.problem_phrase("missing") == "is empty"


def test_every_reason_for_a_message_that_could_not_itself_be_read_has_a_sentence_for_the_team() -> None:
    assert set(UNREAD_MESSAGE_REASONS.values()) <= set(TEAM_SENTENCES)
