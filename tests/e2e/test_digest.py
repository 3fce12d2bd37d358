"""The team's digest through the CLI: printed without sending, sent once a day, only to secure team addresses."""

from __future__ import annotations

import datetime as dt
import json
import os
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import Result

from samples.scenarios import all_scenarios, deliver_to_maildir

from .conftest import Service

LONDON = ZoneInfo("Europe/London")
RECEIVED = dt.datetime(2026, 11, 27, 18, 40, tzinfo=LONDON)  # a Friday evening: counts as Monday 30 at 09:00
MONDAY = dt.datetime(2026, 11, 30, 8, 45, tzinfo=LONDON)
TEAM = "nmss.team@nhs.net"


def take_at(service: Service, when: dt.datetime, seed: int) -> dict[str, str]:
    """The sample emails of ``seed`` received at ``when`` and taken then; their outcomes by reference."""
    with time_machine.travel(when, tick=False):
        for path in deliver_to_maildir(service.mailbox, all_scenarios(when.date(), seed=seed)):
            os.utime(path, (when.timestamp(), when.timestamp()))
        result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    outcomes = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("NMSS-"):
            outcomes[parts[0]] = parts[1]
    return outcomes


@pytest.fixture
def taken(service: Service, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sample emails received on Friday evening and taken; their outcomes by reference."""
    monkeypatch.setenv("NMSS_SERVICE__TEAM_ADDRESSES", json.dumps([TEAM]))
    return take_at(service, RECEIVED, seed=5)


def invoke_at(service: Service, when: dt.datetime, *args: str) -> Result:
    with time_machine.travel(when, tick=False):
        return service.invoke(*args)


def test_digest_print_shows_the_queue_incomplete_submissions_and_mar_without_sending(
    service: Service, taken: dict[str, str]
) -> None:
    result = invoke_at(service, MONDAY, "digest", "--print")

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Norfolk Medicines Support Service - digest for Monday 30 November 2026\n")
    accepted = [ref for ref, outcome in taken.items() if outcome == "accepted"]
    assert accepted
    assert all(ref in text for ref in accepted)
    [incomplete] = [ref for ref, outcome in taken.items() if outcome == "incomplete"]
    waiting = text[text.index("INCOMPLETE, WAITING ON THE REFERRER") : text.index("FOLLOW-UP CALLS DUE TODAY")]
    assert incomplete in waiting
    assert "waiting 0 working days (received Monday 30 November 2026" in waiting
    [mar] = [ref for ref, outcome in taken.items() if outcome == "mar_registration"]
    assert mar in text[text.index("MAR CHART REGISTRATIONS") :]
    assert not list(service.outbox.glob("digest-*.eml"))


def test_digest_print_html_is_a_web_page_of_the_same_digest(service: Service, taken: dict[str, str]) -> None:
    result = invoke_at(service, MONDAY, "digest", "--print", "--html")

    assert result.stdout.startswith("<!DOCTYPE html>")
    assert "digest for Monday 30 November 2026" in result.stdout


def test_an_incomplete_submission_ages_in_working_days(service: Service, taken: dict[str, str]) -> None:
    result = invoke_at(service, MONDAY, "digest", "--print", "--today", "2026-12-03")

    assert "waiting 3 working days (received Monday 30 November 2026" in result.stdout


def test_a_referral_leaves_the_digests_queue_once_assessed(service: Service, taken: dict[str, str]) -> None:
    reference = next(ref for ref, outcome in taken.items() if outcome == "accepted")
    assert invoke_at(service, MONDAY, "referrals", "assessed", reference).exit_code == 0

    result = invoke_at(service, MONDAY, "digest", "--print")

    assert reference not in result.stdout


def test_digest_sends_todays_digest_to_the_team_once(service: Service, taken: dict[str, str]) -> None:
    first = invoke_at(service, MONDAY, "digest")
    second = invoke_at(service, MONDAY + dt.timedelta(hours=2), "digest")

    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"Digest for Monday 30 November 2026 queued for {TEAM}.\n"
        'Wrote 1 email(s) to var/outbox; nothing was sent (outgoing.kind is "outbox").\n'
    )
    assert second.stdout == "The digest for Monday 30 November 2026 was queued already; nothing sent again.\n"
    sent = message_from_bytes((service.outbox / "digest-2026-11-30.eml").read_bytes(), policy=policy.default)
    assert sent["To"] == TEAM
    assert sent.get_content_type() == "multipart/alternative"
    assert "This digest was sent automatically" in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_printed_digest_does_not_claim_it_was_sent(service: Service, taken: dict[str, str]) -> None:
    text = invoke_at(service, MONDAY, "digest", "--print").stdout
    page = invoke_at(service, MONDAY, "digest", "--print", "--html").stdout

    assert text.endswith("Printed by nmss-intake digest --print; it was not sent to anyone.\n")
    assert "sent automatically" not in text
    assert "sent automatically" not in page


def test_the_digest_is_not_sent_to_an_address_off_the_secure_domains(
    service: Service, taken: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NMSS_SERVICE__TEAM_ADDRESSES", json.dumps([TEAM, "team.lead@gmail.com"]))

    result = invoke_at(service, MONDAY, "digest")

    assert result.exit_code == 1
    assert "Error: digest not sent: team.lead@gmail.com is not on a secure domain (nhs.net)" in result.stderr
    assert not list(service.outbox.glob("digest-*.eml"))


def test_the_digest_goes_to_a_domain_on_the_configured_accredited_list(
    service: Service, taken: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NMSS_SERVICE__TEAM_ADDRESSES", '["team@norfolk.gov.uk"]')
    monkeypatch.setenv("NMSS_SERVICE__SECURE_DOMAINS", '["nhs.net", "norfolk.gov.uk"]')

    result = invoke_at(service, MONDAY, "digest")

    assert result.exit_code == 0, result.output
    assert (service.outbox / "digest-2026-11-30.eml").exists()


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_the_digest_names_forms_as_they_are_printed_not_by_their_codes(service: Service, taken: dict[str, str]) -> None:
    text = invoke_at(service, MONDAY, "digest", "--print").stdout
    page = invoke_at(service, MONDAY, "digest", "--print", "--html").stdout

    waiting = between(text, "INCOMPLETE, WAITING ON THE REFERRER", "FOLLOW-UP CALLS DUE TODAY")
    assert "forms: Form 2, Form 1)" in waiting
    assert "form2" not in waiting
    assert "<td>Form 2, Form 1</td>" in page


def test_a_digest_missed_for_a_whole_working_day_comes_the_next_working_day_with_that_days_items_once(
    service: Service, taken: dict[str, str]
) -> None:
    assert invoke_at(service, MONDAY, "digest").exit_code == 0
    # Taken on Monday afternoon: Tuesday's digest would have had these. The service is down all Tuesday from
    # before digest time; what it takes on its return on Tuesday evening belongs to Wednesday's digest.
    monday = take_at(service, dt.datetime(2026, 11, 30, 14, 0, tzinfo=LONDON), seed=6)
    tuesday = take_at(service, dt.datetime(2026, 12, 1, 19, 0, tzinfo=LONDON), seed=8)
    wednesday = dt.datetime(2026, 12, 2, 8, 45, tzinfo=LONDON)

    printed = invoke_at(service, wednesday, "digest", "--print").stdout
    first = invoke_at(service, wednesday, "digest")
    again = invoke_at(service, wednesday + dt.timedelta(hours=3), "digest")
    thursday = invoke_at(service, wednesday + dt.timedelta(days=1), "digest", "--print").stdout

    assert first.exit_code == 0, first.output
    assert again.stdout == "The digest for Wednesday 2 December 2026 was queued already; nothing sent again.\n"
    assert sorted(p.name for p in service.outbox.glob("digest-*.eml")) == [
        "digest-2026-11-30.eml",
        "digest-2026-12-02.eml",
    ], "Tuesday's items went once, with Wednesday's digest"
    sent = message_from_bytes((service.outbox / "digest-2026-12-02.eml").read_bytes(), policy=policy.default)
    assert "(and Tuesday 1 December 2026, not sent then)" in str(sent["Subject"])
    text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "FOR TUESDAY 1 DECEMBER 2026, WHOSE DIGEST WAS NOT SENT" in printed, "--print shows what will be sent"

    assert "It also covers Tuesday 1 December 2026: no digest was sent then" in text
    missed = between(text, "FOR TUESDAY 1 DECEMBER 2026, WHOSE DIGEST WAS NOT SENT", "NEEDING YOUR ACTION")
    for reference, outcome in monday.items():
        if outcome in ("accepted", "review", "mar_registration"):
            assert reference in missed, f"{reference} ({outcome}) is in Tuesday's section"
    for reference in [*tuesday, *taken]:
        assert reference not in missed, "only what came in for Tuesday"
    [monday_mar] = [ref for ref, outcome in monday.items() if outcome == "mar_registration"]
    [tuesday_mar] = [ref for ref, outcome in tuesday.items() if outcome == "mar_registration"]
    latest = text[text.index("MAR CHART REGISTRATIONS SINCE THE LAST DIGEST") :]
    assert tuesday_mar in latest
    assert monday_mar not in latest, "each registration is reported once"
    assert "WHOSE DIGEST WAS NOT SENT" not in thursday, "Thursday's digest covers Thursday alone"
