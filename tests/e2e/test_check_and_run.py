"""`check` answers what `run` would do with an email, from the same core and what the store knows now."""

from __future__ import annotations

import json

from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service


def check(service: Service, raw: bytes, name: str = "message.eml") -> dict[str, object]:
    path = service.root / name
    path.write_bytes(raw)
    result = service.invoke("check", "--json", str(path))
    assert result.exit_code == 0, result.output
    [decided] = json.loads(result.stdout)
    assert isinstance(decided, dict)
    return decided


def run(service: Service, scenario: Scenario) -> list[str]:
    deliver_to_maildir(service.mailbox, [scenario])
    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    [line] = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]
    return line


def test_check_says_what_run_then_does_with_each_sample_one_after_another(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Each sample is checked, then run: the outcome and reference agree, with what earlier ones left behind."""
    for scenario in scenarios:
        checked = check(service, scenario.raw)
        reference, outcome, *_ = run(service, scenario)

        assert (checked["reference"], checked["outcome"]) == (reference, outcome), scenario.name


def test_check_on_an_email_already_taken_says_duplicate_as_run_does(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Before: `check` said `review … open_referral_exists` and `run` said `duplicate … no forms`."""
    accepted = next(s for s in scenarios if s.expected_outcome == "accepted")
    run(service, accepted)

    checked = check(service, accepted.raw)
    text = service.invoke("check", str(service.root / "message.eml")).stdout
    again = run(service, Scenario("again", "", accepted.raw, "duplicate"))

    assert (checked["outcome"], checked["forms"], checked["reply"]) == ("duplicate", [], False)
    assert text == f"{service.root / 'message.eml'}: duplicate (no forms; no reply)\n"
    assert again[1:3] == ["duplicate", "no"]


def test_check_changes_nothing_and_creates_no_database(service: Service, scenarios: list[Scenario]) -> None:
    """A check on a new install answers from an empty store and leaves no database behind."""
    checked = check(service, scenarios[0].raw)

    assert checked["outcome"] == scenarios[0].expected_outcome
    assert not service.has_database()
