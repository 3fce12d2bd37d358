"""The team's digest and follow-up reminders as emails: what they say, in what order, and to whom."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest

from config.settings import ServiceSettings
from notifier.digest import (
    Digest,
    DueCall,
    InsecureRecipient,
    MarRegistration,
    MissedDay,
    Patient,
    QueuedReferral,
    TaskToDo,
    WaitingSubmission,
    build_digest,
    build_follow_up_reminder,
)

DAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC)
SERVICE = ServiceSettings()
TEAM = ["nmss.team@nhs.net", "nmss.lead@nhs.net"]
SECURE = ["nhs.net"]


def person(surname: str, forenames: str = "Jean", number: str = "9990000018") -> Patient:
    return Patient(nhs_number=number, surname=surname, forenames=forenames, date_of_birth=dt.date(1941, 4, 3))


def referral(reference: str, priority: str | None, surname: str, *flags: str, received: int = 27) -> QueuedReferral:
    return QueuedReferral(
        reference=reference,
        received_on=dt.date(2026, 11, received),
        patient=person(surname),
        priority=priority,
        flags=flags,
    )


def call(followup_id: int, due: dt.date, overdue: int) -> DueCall:
    return DueCall(followup_id, f"NMSS-CALL{followup_id}", "6w", "6 weeks", due, overdue, person("Callme"))


DIGEST = Digest(
    day=DAY,
    referrals=(
        referral("NMSS-ROUTINE1", "routine", "Routinely"),
        referral("NMSS-SOON0001", "soon", "Soonish", "high_risk_medicines"),
        referral("NMSS-URGENT02", "urgent", "Latterly", "recent_discharge", received=27),
        referral("NMSS-URGENT01", "urgent", "Earliest", "recent_discharge", received=20),
    ),
    review=(QueuedReferral("NMSS-REVIEW01", DAY, person("Reviewed"), reasons=("patient_mismatch",)),),
    waiting=(WaitingSubmission("NMSS-WAIT0001", dt.date(2026, 11, 24), 4, ("form2", "form1"), person("Waiting")),),
    calls=(call(7, DAY, 0), call(3, dt.date(2026, 11, 25), 3)),
    mar=(MarRegistration("NMSS-MARREG01", dt.date(2026, 11, 27), person("Charted")),),
)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def build(digest: Digest = DIGEST, recipients: list[str] = TEAM) -> EmailMessage:
    return build_digest(digest, recipients=recipients, service=SERVICE, secure_domains=SECURE, now=NOW)


def test_the_digest_goes_to_every_team_address_as_text_and_html() -> None:
    message = build()

    assert message["To"] == "nmss.team@nhs.net, nmss.lead@nhs.net"
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "NMSS-URGENT01" in text
    assert "NMSS-URGENT01" in html


def test_urgent_referrals_come_first_then_soon_then_routine_each_oldest_first() -> None:
    text, html = parts(build())

    for body in (text, html):
        positions = [body.index(ref) for ref in ("NMSS-URGENT01", "NMSS-URGENT02", "NMSS-SOON0001", "NMSS-ROUTINE1")]
        assert positions == sorted(positions)


def test_each_referral_shows_its_flags_and_each_review_its_reasons_in_words() -> None:
    text, _ = parts(build())

    assert "flags: recent discharge" in text
    assert "flags: high risk medicines" in text
    assert "reasons: patient mismatch" in text


def test_incomplete_submissions_show_how_many_working_days_they_have_waited() -> None:
    text, _ = parts(build())

    assert "NMSS-WAIT0001" in text
    assert "waiting 4 working days" in text


def test_calls_due_today_and_overdue_calls_are_listed_apart() -> None:
    text, _ = parts(build())

    today_section = text[text.index("FOLLOW-UP CALLS DUE TODAY") : text.index("FOLLOW-UP CALLS OVERDUE")]
    overdue_section = text[text.index("FOLLOW-UP CALLS OVERDUE") : text.index("MAR CHART")]
    assert "#7" in today_section
    assert "#3" not in today_section
    assert "#3" in overdue_section
    assert "3 working days overdue" in overdue_section


def test_mar_registrations_and_patient_identifiers_are_shown_to_the_team() -> None:
    text, _ = parts(build())

    assert "NMSS-MARREG01" in text
    assert "CHARTED, Jean" in text
    assert "999 000 0018" in text


def test_empty_sections_say_none_so_the_team_knows_nothing_is_waiting() -> None:
    text, html = parts(build(Digest(day=DAY)))

    assert text.count("None.") == 9
    assert html.count("<p>None.</p>") == 9


def test_the_digest_opens_with_the_tasks_needing_the_teams_action() -> None:
    tasks = (
        TaskToDo(3, "NMSS-HELDBACK", "reply by hand: the automatic reply was held back"),
        TaskToDo(4, None, "restore access to mailbox intake: it could not be read 3 times in a row"),
    )
    text, html = parts(build(Digest(day=DAY, tasks=tasks)))

    first_section = text.split("\n\n")[2]
    assert first_section == (
        "NEEDING YOUR ACTION (2)\n"
        "  #3  NMSS-HELDBACK  reply by hand: the automatic reply was held back\n"
        "  #4  -  restore access to mailbox intake: it could not be read 3 times in a row"
    )
    assert html.index("Needing your action (2)") < html.index("Referrals in the queue")
    assert "<td>NMSS-HELDBACK</td><td>reply by hand: the automatic reply was held back</td>" in html


def test_the_subject_gives_counts_but_never_a_patients_name_or_number() -> None:
    message = build()

    subject = str(message["Subject"])
    assert "0 needing your action, 4 in the queue (2 urgent), 1 to review, 2 calls due" in subject
    assert "Monday 30 November 2026" in subject
    for value in ("Earliest", "EARLIEST", "9990000018", "999 000 0018"):
        assert value not in subject


def test_the_digest_is_marked_as_machine_generated_with_the_same_id_for_the_same_day() -> None:
    message = build()

    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Loop"] == SERVICE.address
    assert message["Message-ID"] == "<nmss-intake.digest.2026-11-30@nhs.net>"
    assert build()["Message-ID"] == message["Message-ID"]


def test_a_name_with_markup_is_escaped_in_the_html_digest() -> None:
    digest = Digest(day=DAY, referrals=(referral("NMSS-ESCAPE01", "routine", "<b>O'Neil & Co</b>"),))

    _, html = parts(build(digest))

    assert "<b>O" not in html
    assert "&lt;B&gt;O&#39;NEIL &amp; CO&lt;/B&gt;" in html


@pytest.mark.parametrize(
    "recipients",
    [
        ["nmss.team@nhs.net", "someone@gmail.com"],
        ["nmss.team@nhs.net.evil.example"],
        ["not-an-address"],
        [],
    ],
)
def test_the_digest_is_refused_for_any_address_not_on_a_secure_domain(recipients: list[str]) -> None:
    with pytest.raises(InsecureRecipient):
        build(recipients=recipients)


def test_a_domain_on_the_accredited_list_may_receive_the_digest() -> None:
    message = build_digest(
        DIGEST,
        recipients=["team@norfolk.gov.uk"],
        service=SERVICE,
        secure_domains=["nhs.net", "norfolk.gov.uk"],
        now=NOW,
    )
    assert message["To"] == "team@norfolk.gov.uk"


def test_a_reminder_names_the_call_and_how_to_record_it() -> None:
    message = build_follow_up_reminder(
        call(7, DAY, 0), recipients=TEAM, service=SERVICE, secure_domains=SECURE, now=NOW
    )

    body = message.get_content()
    assert message["Subject"] == "Follow-up call due (6 weeks) - reference NMSS-CALL7"
    assert "is due today, Monday 30 November 2026" in body
    assert "nmss-intake followups done 7 --outcome" in body
    assert message["Message-ID"] == "<nmss-intake.followup.7@nhs.net>"


def test_a_reminder_sent_late_says_when_the_call_was_due() -> None:
    message = build_follow_up_reminder(
        call(3, dt.date(2026, 11, 25), 3), recipients=TEAM, service=SERVICE, secure_domains=SECURE, now=NOW
    )

    assert "was due on Wednesday 25 November 2026" in message.get_content()


def test_a_reminder_is_refused_for_an_address_not_on_a_secure_domain() -> None:
    with pytest.raises(InsecureRecipient, match=r"gmail\.com"):
        build_follow_up_reminder(
            call(7, DAY, 0), recipients=["x@gmail.com"], service=SERVICE, secure_domains=SECURE, now=NOW
        )


def test_a_missed_days_items_come_in_a_dated_section_of_their_own_and_the_subject_says_so() -> None:
    friday = dt.date(2026, 11, 27)
    missed = MissedDay(
        day=friday,
        referrals=(referral("NMSS-FRIROUT1", "routine", "Later"), referral("NMSS-FRIURGE1", "urgent", "First")),
        mar=(MarRegistration("NMSS-FRIMAR01", friday, person("Charted")),),
    )
    message = build(Digest(day=DAY, missed=(missed,)))
    text, html = parts(message)

    assert "(and Friday 27 November 2026, not sent then)" in str(message["Subject"])
    section = text[text.index("FOR FRIDAY 27 NOVEMBER 2026, WHOSE DIGEST WAS NOT SENT") : text.index("NEEDING YOUR")]
    assert section.index("NMSS-FRIURGE1") < section.index("NMSS-FRIROUT1"), "most urgent first"
    assert "NMSS-FRIMAR01" in section
    assert "For Friday 27 November 2026, whose digest was not sent" in html
    assert "NMSS-FRIMAR01" in html


def test_a_digest_with_no_missed_day_has_no_such_section() -> None:
    text, html = parts(build())

    assert "WHOSE DIGEST WAS NOT SENT" not in text
    assert "also covers" not in html
