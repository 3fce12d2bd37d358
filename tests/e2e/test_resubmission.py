"""A referral completed by a reply: incomplete -> our reply -> the referrer answers with the missing form ->
the submission is decided again and queued under its first reference. Driven through the real CLI."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from email.utils import formataddr

from sqlmodel import Session, select

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.store import MessageRecord, OutboxRecord, make_engine
from intake.views import hand_reply_draft
from samples.emails import plain_email, referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import Patient, patient, seeded
from samples.scenarios import FILENAMES, Scenario, deliver_to_maildir

from .conftest import LONDON, Service, today
from .test_unreadable import password_protected


class Referral:
    """One invented patient's referral from their pharmacy: the forms, and emails sent about it."""

    def __init__(self, seed: int) -> None:
        self.day = today()
        self.person: Patient = patient(seeded("resubmission", seed), today=self.day)
        self.seed = seed
        self.sender = self.person.pharmacy.email

    def attachments(self, *kinds: str) -> list[tuple[str, bytes]]:
        return [
            (FILENAMES[k], fillable_pdf(k, complete_values(k, self.person, today=self.day, seed=self.seed)))  # type: ignore[arg-type]
            for k in kinds
        ]

    def email(self, *kinds: str, subject: str = "NMSS referral", minute: int = 0, **headers: str) -> bytes:
        when = dt.datetime.combine(self.day, dt.time(9, minute), tzinfo=LONDON)
        sender = formataddr((self.person.pharmacy.name, self.sender))
        if not kinds:
            return plain_email(
                sender=sender, subject=subject, date=when, body="Please see my question below.\n", extra_headers=headers
            )
        return referral_email(
            attachments=self.attachments(*kinds), sender=sender, subject=subject, date=when, extra_headers=headers
        )


def deliver(service: Service, *raws: bytes) -> None:
    deliver_to_maildir(service.mailbox, [Scenario(f"m{i}", "", raw, "incomplete") for i, raw in enumerate(raws)])


def run(service: Service) -> list[list[str]]:
    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    return [line.split() for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]


def replies(service: Service) -> list[EmailMessage]:
    found = []
    for path in sorted(service.outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), _class=EmailMessage, policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def tasks(service: Service) -> list[dict[str, object]]:
    """The open team tasks, as `tasks list --json` shows them."""
    result = service.invoke("tasks", "list", "--json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def queue(service: Service) -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads(service.invoke("referrals", "list", "--json").stdout)
    return items


def test_a_referral_missing_its_miat_is_accepted_once_the_referrer_replies_with_it(service: Service) -> None:
    referral = Referral(seed=1)
    deliver(service, referral.email("form2", "form1"))
    [[reference, outcome, *_]] = run(service)
    [reply] = replies(service)
    assert outcome == "incomplete"
    assert reference in reply["Subject"]
    assert "Medication Independence Assessment Tool" in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    answer = referral.email(
        "miat",
        subject=f"RE: {reply['Subject']}",
        minute=30,
        **{"In-Reply-To": reply["Message-ID"].strip(), "References": reply["Message-ID"].strip()},
    )
    deliver(service, answer)
    [[again, completed, *_]] = run(service)

    assert (again, completed) == (reference, "accepted")
    [queued] = queue(service)
    assert (queued["reference"], queued["kind"], queued["status"]) == (reference, "referral", "new")
    assert queued["nhs_number"] == referral.person.nhs_number
    assert len(replies(service)) == 1, "an accepted resubmission gets no second reply"
    assert service.folder_counts() == {"Accepted": 1, "Incomplete": 1}


def test_the_reference_in_the_subject_alone_finds_the_referral_when_the_threading_headers_are_lost(
    service: Service,
) -> None:
    referral = Referral(seed=2)
    deliver(service, referral.email("form2", "miat"))
    [[reference, *_]] = run(service)

    deliver(service, referral.email("form1", subject=f"Form 1 for {reference}", minute=40))
    [[again, completed, *_]] = run(service)

    assert (again, completed) == (reference, "accepted")
    queued = {item["reference"]: item for item in queue(service)}
    assert (queued[reference]["status"], queued[reference]["nhs_number"]) == ("new", referral.person.nhs_number)


def test_a_reply_to_our_reply_with_no_forms_becomes_an_item_for_the_team(service: Service) -> None:
    referral = Referral(seed=3)
    deliver(service, referral.email("form2", "form1"))
    run(service)
    [reply] = replies(service)

    deliver(
        service,
        referral.email(subject=f"RE: {reply['Subject']}", minute=45, **{"In-Reply-To": reply["Message-ID"].strip()}),
    )
    [[_, outcome, *_]] = run(service)

    assert outcome == "review"
    assert len(replies(service)) == 1, "no automatic reply to a person's question"
    assert queue(service) == []
    [task] = tasks(service)
    assert (task["kind"], task["action"]) == (
        "reply_without_forms",
        "read the referrer's reply and answer it: it came without forms",
    )
    assert service.folder_counts() == {"Incomplete": 1, "Review": 1}


def test_a_resubmission_still_incomplete_gets_no_second_reply_and_the_team_replies_by_hand(service: Service) -> None:
    referral = Referral(seed=4)
    deliver(service, referral.email("form2", "form1"))
    run(service)
    [reply] = replies(service)

    deliver(service, referral.email("form1", minute=50, **{"In-Reply-To": reply["Message-ID"].strip()}))
    [[_, outcome, *_]] = run(service)

    assert outcome == "incomplete"
    assert len(replies(service)) == 1
    assert [(t["kind"], t["action"]) for t in tasks(service)] == [
        (
            "reply_held_back",
            "reply by hand: the automatic reply was held back (this submission has had its automatic reply already)",
        )
    ]


def test_a_resubmission_incomplete_again_keeps_one_reply_by_hand_that_says_what_is_missing_now(
    service: Service,
) -> None:
    referral = Referral(seed=5)
    deliver(service, referral.email("form2", "form1"))
    run(service)
    [reply] = replies(service)
    thread = {"In-Reply-To": reply["Message-ID"].strip()}
    deliver(service, referral.email("form1", minute=50, **thread))
    run(service)
    [task] = tasks(service)

    # The MIAT at last, without the assessor's name: still incomplete, for a different reason.
    values = complete_values("miat", referral.person, today=referral.day, seed=referral.seed)
    del values["assessor.name"]
    when = dt.datetime.combine(referral.day, dt.time(9, 55), tzinfo=LONDON)
    sender = formataddr((referral.person.pharmacy.name, referral.sender))
    miat = [(FILENAMES["miat"], fillable_pdf("miat", values))]
    deliver(service, referral_email(attachments=miat, sender=sender, subject="NMSS referral", date=when,
                                    extra_headers=thread))  # fmt: skip
    [[_, outcome, *_]] = run(service)

    assert outcome == "incomplete"
    assert len(replies(service)) == 1
    [still_open] = tasks(service)
    assert (still_open["id"], still_open["kind"]) == (task["id"], "reply_held_back")
    # The reply by hand starts from what the referrer must be told now, not what was missing before.
    app = bootstrap(load_settings())
    with app.services.unit_of_work() as uow:
        draft = hand_reply_draft(uow, int(str(task["id"])), app.settings.service)
    app.engine.dispose()
    assert draft is not None
    assert "Assessor name" in draft.body


def test_a_form_sent_again_still_locked_leaves_the_team_one_task_and_no_reply_to_send(service: Service) -> None:
    referral = Referral(seed=6)
    sender = formataddr((referral.person.pharmacy.name, referral.sender))

    def locked(minute: int, **headers: str) -> bytes:
        files = [(n, password_protected(d) if n == FILENAMES["form2"] else d) for n, d in referral.attachments("form2")]
        when = dt.datetime.combine(referral.day, dt.time(9, minute), tzinfo=LONDON)
        return referral_email(
            attachments=files, sender=sender, subject="NMSS referral", date=when, extra_headers=headers
        )

    deliver(service, locked(0))
    [[reference, outcome, *_]] = run(service)
    assert outcome == "review"
    [reply] = replies(service)
    [task] = tasks(service)
    assert task["kind"] == "unreadable_form"

    deliver(service, locked(40, **{"In-Reply-To": reply["Message-ID"].strip()}))
    [[again, outcome_again, *_]] = run(service)

    assert (again, outcome_again) == (reference, "review")
    assert len(replies(service)) == 1, "the referrer was told once that the form will be checked by hand"
    assert [(t["id"], t["kind"]) for t in tasks(service)] == [(task["id"], "unreadable_form")]


def test_a_referral_past_the_senders_daily_reply_limit_is_answered_by_the_team(service: Service) -> None:
    # The default is 10 a day; 3 here keeps the test to four emails.
    (service.root / "nmss-intake.toml").write_text("[outgoing.reply_limits]\nper_sender_per_day = 3\n")
    referrals = [Referral(seed=10 + i) for i in range(4)]
    for other in referrals[1:]:  # a different patient each time, one pharmacy address
        other.sender = referrals[0].sender
    deliver(service, *(r.email("form2", "form1", minute=i) for i, r in enumerate(referrals)))

    taken = run(service)

    assert [line[1] for line in taken] == ["incomplete"] * 4
    assert len(replies(service)) == 3
    [task] = tasks(service)
    assert task["reference"] == taken[3][0]
    assert task["action"] == (
        "reply by hand: the automatic reply was held back (this sender reached the daily limit of automatic replies)"
    )
    digest = service.invoke("digest", "--print").stdout
    assert f"NEEDING YOUR ACTION (1)\n  #{task['id']}  {taken[3][0]}  reply by hand" in digest
    engine = make_engine(service.database)
    with Session(engine) as session:
        assert {row.recipient for row in session.exec(select(OutboxRecord))} == {referrals[0].sender}
        assert all(row.submission_of is None for row in session.exec(select(MessageRecord)))
    engine.dispose()


def forged_reply_id(reference: str) -> str:
    """A Message-ID in the form of our replies, naming someone else's reference: anyone can write one."""
    return f"<nmss-intake.reply.incomplete.{reference}.19990101T000000Z@nhs.net>"


def test_a_stranger_naming_another_referral_in_a_forged_thread_goes_to_the_team_and_the_referral_is_untouched(
    service: Service,
) -> None:
    victim = Referral(seed=20)
    deliver(service, victim.email("form2", "form1", "miat"))
    [[reference, accepted, *_]] = run(service)
    assert accepted == "accepted"
    [before] = queue(service)

    stranger = Referral(seed=21)
    assert stranger.sender != victim.sender
    forged = {"In-Reply-To": forged_reply_id(reference), "References": forged_reply_id(reference)}
    deliver(service, stranger.email("form2", "form1", "miat", subject="RE: your referral", minute=20, **forged))
    [[own_reference, outcome, *_]] = run(service)

    assert own_reference != reference, "decided as a submission of its own"
    assert outcome == "review"
    queued = {item["reference"]: item for item in queue(service)}
    assert queued[reference] == before, "the referral the forged thread names is unchanged"
    assert queued[own_reference]["status"] == "review"
    assert queued[own_reference]["nhs_number"] == stranger.person.nhs_number
    assert replies(service) == [], "no automatic reply to a forged thread"
    assert [t["kind"] for t in tasks(service)] == ["reply_to_unknown_message"]


def test_a_reply_to_our_reply_from_an_address_we_did_not_write_to_is_not_merged_and_the_referrer_can_still_answer(
    service: Service,
) -> None:
    referral = Referral(seed=22)
    deliver(service, referral.email("form2", "form1"))
    [[reference, *_]] = run(service)
    [reply] = replies(service)
    thread = {"In-Reply-To": reply["Message-ID"].strip(), "References": reply["Message-ID"].strip()}

    stranger = Referral(seed=23)
    deliver(service, stranger.email("miat", subject=f"RE: {reply['Subject']}", minute=10, **thread))
    [[own_reference, outcome, *_]] = run(service)

    assert (own_reference == reference, outcome) == (False, "review")
    assert [t["kind"] for t in tasks(service)] == ["reply_from_unknown_sender"]
    assert [(i["reference"], i["status"]) for i in queue(service)] == [(own_reference, "review")], (
        "the referral is still waiting for its MIAT; the stranger's form is the team's to look at"
    )
    assert len(replies(service)) == 1

    # The referrer answers from the address we wrote to, in capitals: the same mailbox.
    referral.sender = referral.sender.upper()
    deliver(service, referral.email("miat", subject=f"RE: {reply['Subject']}", minute=40, **thread))
    [[again, completed, *_]] = run(service)

    assert (again, completed) == (reference, "accepted")
    queued = {item["reference"]: item for item in queue(service)}
    assert (queued[reference]["status"], queued[reference]["nhs_number"]) == ("new", referral.person.nhs_number)
