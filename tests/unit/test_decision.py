"""The whole decision about one message, table-driven, with literal forms and no database.

Each row is a message and what the store knows about it; the columns are what a person would notice: the
outcome, whether and how it is queued, the reply or why it is held back, the team's tasks and the folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import pytest

from config.settings import ReplyLimitSettings, ServiceSettings
from config.triage import load_triage_rules
from parsers.types import Document, Unreadable
from rules.decision import Answered, Known, Message, NamedReply, Policy, decide_message, merge_documents
from tests.unit.test_decide import DEFINITIONS, RECEIVED, TODAY, form

POLICY = Policy(
    definitions=DEFINITIONS,
    service=ServiceSettings(),
    reply_limits=ReplyLimitSettings(per_sender_per_day=3, per_submission=1),
    triage=load_triage_rules(None),
)
PHARMACY = "example.pharmacy@nhs.net"
REFERRAL = (form("form2"), form("form1"), form("miat"))
INCOMPLETE = (form("form2"), form("form1"))
SCANNED = Unreadable("scan.pdf", "scanned")
EARLIER = Answered(root_id=7, reference="NMSS-AAAAAAAA", how="subject", replied_to=frozenset({PHARMACY}))
THREAD = Answered(root_id=7, reference="NMSS-AAAAAAAA", how="thread", documents=INCOMPLETE)
UNSURE = dataclasses.replace(
    form("form2"), source="ocr", confidence=dict.fromkeys(form("form2").fields, 0.97) | {"patient.dob": 0.4}
)
SCAN_SENT = dataclasses.replace(EARLIER, documents=(UNSURE, form("form1")))
"""A referral whose Form 2 was a scan not read surely, answered with "a member of the team will check it"."""
ACKNOWLEDGED = Known(answers=SCAN_SENT, replies_for_submission=1, reply_kinds_for_submission=frozenset({"unreadable"}))
FORM2_AWAITED = dataclasses.replace(EARLIER, documents=(form("form1"), form("miat")))
"""A referral told its Form 2 is missing."""
ANSWERED_INCOMPLETE = dataclasses.replace(
    ACKNOWLEDGED, answers=dataclasses.replace(EARLIER, documents=(form("form2"),)),
    reply_kinds_for_submission=frozenset({"incomplete"}),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One message, what is known, and what must happen."""

    documents: tuple[Document, ...]
    known: Known = field(default_factory=Known)
    automatic: str | None = None
    reply_address: str | None = PHARMACY
    # what a person notices
    kind: str = ""
    queue: tuple[str, str] | None = None  # (kind, status)
    reply: str | None = None
    held_back: str | None = None
    tasks: tuple[str, ...] = ()
    still_open: tuple[str, ...] = ()  # tasks already open about the submission, kept rather than added
    folder: str = ""
    reasons: tuple[str, ...] = field(default=())


ROWS = {
    "complete referral": Row(REFERRAL, kind="accepted", queue=("referral", "new"), folder="Accepted"),
    "incomplete referral": Row(INCOMPLETE, kind="incomplete", reply="incomplete", folder="Incomplete"),
    "form 1 alone": Row((form("form1"),), kind="misrouted", reply="misrouted", folder="Misrouted"),
    "complete MAR registration": Row(
        (form("mar"),), kind="mar_registration", queue=("mar_registration", "new"), folder="MAR"
    ),
    "scanned form": Row(
        (SCANNED,), kind="review", reply="unreadable", tasks=("unreadable_form",), folder="Review",
        reasons=("unreadable_form",),
    ),
    "scanned form with a readable Form 2": Row(
        (form("form2"), SCANNED), kind="review", queue=("referral", "review"), reply="unreadable",
        tasks=("unreadable_form",), folder="Review", reasons=("unreadable_form",),
    ),
    "no form": Row((), kind="not_a_submission", folder="Other"),
    "no form from a machine": Row((), automatic="auto-submitted", kind="automatic", folder="Automatic"),
    "incomplete from a machine": Row(
        INCOMPLETE, automatic="auto-submitted", kind="incomplete", held_back="auto-submitted",
        tasks=("reply_held_back",), folder="Incomplete",
    ),
    "incomplete with no address": Row(
        INCOMPLETE, reply_address=None, kind="incomplete", held_back="no-reply-address",
        tasks=("reply_held_back",), folder="Incomplete",
    ),
    "fourth incomplete from one sender in a day": Row(
        INCOMPLETE, known=Known(replies_to_sender=3), kind="incomplete", held_back="rate-limit-sender",
        tasks=("reply_held_back",), folder="Incomplete",
    ),
    "already taken": Row(REFERRAL, known=Known(duplicate_of=3), kind="duplicate", folder="Duplicate"),
    "referral for a patient already queued": Row(
        REFERRAL, known=Known(open_referrals=frozenset({"9990000018"})), kind="review",
        queue=("referral", "review"), folder="Review", reasons=("open_referral_exists",),
    ),
    "reply without forms to our reply": Row(
        (), known=Known(answers=EARLIER), kind="review", tasks=("reply_without_forms",),
        folder="Review", reasons=("reply_without_forms",),
    ),
    "a reply to our reply whose attachment held no form": Row(
        (Unreadable("winmail.dat", "unrecognised"),), known=Known(answers=EARLIER), kind="review",
        tasks=("reply_without_forms",), folder="Review", reasons=("reply_without_forms",),
    ),
    "an out-of-office answering our reply": Row(
        (), known=Known(answers=EARLIER), automatic="auto-submitted", kind="automatic",
        folder="Automatic",
    ),
    "reference quoted by an unknown sender": Row(
        INCOMPLETE, known=Known(answers=EARLIER), reply_address="stranger@example.org", kind="review",
        queue=("referral", "review"), tasks=("reference_from_unknown_sender",), folder="Review",
        reasons=("reference_from_unknown_sender",),
    ),
    "a reference quoted by the same mailbox spelt another way": Row(
        (form("miat"),), known=Known(answers=Answered(**{**EARLIER.__dict__, "documents": INCOMPLETE})),
        reply_address="Example.Pharmacy+referrals@NHS.NET", kind="accepted", queue=("referral", "new"),
        folder="Accepted",
    ),
    "the missing MIAT sent after our reply": Row(
        (form("miat"),), known=Known(answers=Answered(**{**EARLIER.__dict__, "documents": INCOMPLETE})),
        kind="accepted", queue=("referral", "new"), folder="Accepted",
    ),
    "a second incomplete answer about one submission": Row(
        (form("form1"),), known=Known(answers=Answered(**{**EARLIER.__dict__, "documents": (form("form2"),)}),
        replies_for_submission=1), kind="incomplete", held_back="rate-limit-submission",
        tasks=("reply_held_back",), folder="Incomplete",
    ),
    "the missing MIAT in answer to our reply, from the address it went to": Row(
        (form("miat"),), known=Known(replies_named=(NamedReply(sent_to=PHARMACY, submission=THREAD),)),
        kind="accepted", queue=("referral", "new"), folder="Accepted",
    ),
    "an answer to our reply from an address it did not go to": Row(
        INCOMPLETE, known=Known(replies_named=(NamedReply(sent_to=PHARMACY, submission=THREAD),)),
        reply_address="stranger@example.org", kind="review", queue=("referral", "review"),
        tasks=("reply_from_unknown_sender",), folder="Review", reasons=("reply_from_unknown_sender",),
    ),
    "an answer to a Message-ID of ours the outbox never sent": Row(
        INCOMPLETE, known=Known(replies_named=(NamedReply(),), answers=EARLIER), kind="review",
        queue=("referral", "review"), tasks=("reply_to_unknown_message",), folder="Review",
        reasons=("reply_to_unknown_message",),
    ),
    "a forged Message-ID before the real one of our reply": Row(
        (form("miat"),), known=Known(replies_named=(NamedReply(), NamedReply(sent_to=PHARMACY, submission=THREAD))),
        kind="accepted", queue=("referral", "new"), folder="Accepted",
    ),
    # A resubmission that still needs what an open task asks is that task, not a second line for the team;
    # and a "we will check it by hand" reply held back when the referrer already has it is no reply to send.
    "the MIAT after an unsure scan, while the scan's check is open": Row(
        (form("miat"),), known=dataclasses.replace(ACKNOWLEDGED, open_tasks=frozenset({"ocr_uncertain"})),
        kind="review", queue=("referral", "review"), held_back="rate-limit-submission",
        still_open=("ocr_uncertain",), folder="Review", reasons=("ocr_uncertain",),
    ),
    "the MIAT after an unsure scan the team has checked": Row(
        (form("miat"),), known=ACKNOWLEDGED, kind="review", queue=("referral", "review"),
        held_back="rate-limit-submission", tasks=("ocr_uncertain",), folder="Review", reasons=("ocr_uncertain",),
    ),
    "an unsure scan in answer to our incomplete reply, while a reply by hand is open": Row(
        (UNSURE,), known=dataclasses.replace(
            ANSWERED_INCOMPLETE, answers=FORM2_AWAITED, open_tasks=frozenset({"reply_held_back"})
        ),
        kind="review", queue=("referral", "review"), held_back="rate-limit-submission", tasks=("ocr_uncertain",),
        still_open=("reply_held_back",), folder="Review", reasons=("ocr_uncertain",),
    ),
    "an unsure scan in answer to our incomplete reply: the referrer has not heard it is checked by hand": Row(
        (UNSURE,), known=dataclasses.replace(ANSWERED_INCOMPLETE, answers=FORM2_AWAITED),
        kind="review", queue=("referral", "review"), held_back="rate-limit-submission",
        tasks=("reply_held_back", "ocr_uncertain"), folder="Review", reasons=("ocr_uncertain",),
    ),
    "a form still unreadable, while its check is open": Row(
        (SCANNED,), known=dataclasses.replace(
            ACKNOWLEDGED, answers=EARLIER, open_tasks=frozenset({"unreadable_form"})
        ),
        kind="review", held_back="rate-limit-submission", still_open=("unreadable_form",), folder="Review",
        reasons=("unreadable_form",),
    ),
    "a form still unreadable, from a machine, after our acknowledgment": Row(
        (SCANNED,), known=dataclasses.replace(ACKNOWLEDGED, answers=EARLIER), automatic="auto-submitted",
        kind="review", held_back="auto-submitted", tasks=("unreadable_form",), folder="Review",
        reasons=("unreadable_form",),
    ),
    "a first unreadable form past the sender's daily limit": Row(
        (SCANNED,), known=Known(replies_to_sender=3), kind="review", held_back="rate-limit-sender",
        tasks=("reply_held_back", "unreadable_form"), folder="Review", reasons=("unreadable_form",),
    ),
    "a third answer still incomplete, while the reply by hand is open": Row(
        (form("form1"),), known=dataclasses.replace(ANSWERED_INCOMPLETE, open_tasks=frozenset({"reply_held_back"})),
        kind="incomplete", held_back="rate-limit-submission", still_open=("reply_held_back",), folder="Incomplete",
    ),
    "a second answer without forms, while the first is open": Row(
        (), known=Known(answers=EARLIER, open_tasks=frozenset({"reply_without_forms"})), kind="review",
        still_open=("reply_without_forms",), folder="Review", reasons=("reply_without_forms",),
    ),
    "a stranger's unreadable form quoting a referral whose form check is open": Row(
        (SCANNED,), known=Known(answers=EARLIER, open_tasks=frozenset({"unreadable_form"})),
        reply_address="stranger@example.org", kind="review",
        tasks=("reference_from_unknown_sender", "unreadable_form"), folder="Review",
        reasons=("unreadable_form", "reference_from_unknown_sender"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_the_decision_says_everything_that_happens_to_a_message(row: Row) -> None:
    message = Message(
        documents=row.documents,
        received_at=RECEIVED,
        reference="NMSS-BBBBBBBB",
        automatic=row.automatic,
        reply_address=row.reply_address,
        senders=frozenset({row.reply_address}) if row.reply_address else frozenset(),
        sender=row.reply_address,
    )
    decision = decide_message(message, row.known, POLICY, TODAY)

    assert decision.kind == row.kind
    assert ((decision.queue.kind, decision.queue.status) if decision.queue else None) == row.queue
    assert (decision.reply.kind if decision.reply else None) == row.reply
    assert decision.held_back == row.held_back
    assert tuple(t.kind for t in decision.tasks) == row.tasks
    assert tuple(t.kind for t in decision.tasks_still_open) == row.still_open
    assert decision.folder == row.folder
    assert decision.outcome is None or decision.outcome.reasons == row.reasons


def test_a_resubmission_is_queued_under_the_first_reference_with_the_patient_from_form2() -> None:
    message = Message((form("miat"),), RECEIVED, "NMSS-BBBBBBBB", reply_address=PHARMACY, sender=PHARMACY)
    known = Known(replies_named=(NamedReply(sent_to=PHARMACY, submission=THREAD),))

    decision = decide_message(message, known, POLICY, TODAY)

    assert (decision.reference, decision.resubmission_of) == ("NMSS-AAAAAAAA", 7)
    assert decision.queue is not None
    assert decision.queue.patient.nhs_number == "9990000018"
    assert decision.queue.patient.date_of_birth == dt.date(1941, 4, 3)
    assert decision.queue.priority in ("urgent", "soon", "routine")


def test_the_reply_goes_to_the_reply_address_and_names_the_missing_form() -> None:
    message = Message(INCOMPLETE, RECEIVED, "NMSS-BBBBBBBB", reply_address=PHARMACY)

    decision = decide_message(message, Known(), POLICY, TODAY)

    assert decision.reply is not None
    assert decision.reply.to == PHARMACY
    assert [p.code for p in decision.reply.problems] == ["missing_form"]


def test_a_held_back_reply_tells_the_team_why_without_patient_data() -> None:
    message = Message(INCOMPLETE, RECEIVED, "NMSS-BBBBBBBB", reply_address=PHARMACY)

    [task] = decide_message(message, Known(replies_to_sender=3), POLICY, TODAY).tasks

    assert task.action.startswith("reply by hand: the automatic reply was held back")
    assert "Testwell" not in task.action
    assert "999" not in task.action


@pytest.mark.parametrize(("automatic", "address"), [("auto-submitted", PHARMACY), (None, None)])
def test_a_reply_held_back_for_a_machine_or_no_address_keeps_its_words_for_the_reply_by_hand(
    automatic: str | None, address: str | None
) -> None:
    message = Message((SCANNED,), RECEIVED, "NMSS-BBBBBBBB", automatic=automatic, reply_address=address)

    decision = decide_message(message, Known(), POLICY, TODAY)

    assert decision.reply is None
    assert decision.outcome is not None
    assert decision.outcome.held_reply == "unreadable"


def test_a_newer_form_replaces_the_earlier_one_of_its_kind_and_the_rest_are_kept() -> None:
    old_form2, new_form2 = form("form2"), form("form2", {"patient.phone": "01603 999999"})
    assert merge_documents((old_form2, form("form1")), (new_form2,)) == (form("form1"), new_form2)


def test_a_mar_registration_is_queued_without_a_priority() -> None:
    decision = decide_message(Message((form("mar"),), RECEIVED, "NMSS-BBBBBBBB"), Known(), POLICY, TODAY)
    assert decision.queue is not None
    assert (decision.queue.kind, decision.queue.priority) == ("mar_registration", None)


def test_a_referral_held_for_its_scan_to_be_checked_is_a_task_for_the_team_and_a_sure_one_is_not() -> None:
    """Like the other referrals held back, one whose scanned form was not read surely enough is something the
    team must do: check the marked fields against the form. The task names no patient data."""
    unsure = dataclasses.replace(
        form("form2"), source="ocr", confidence=dict.fromkeys(form("form2").fields, 0.97) | {"patient.dob": 0.4}
    )
    sure = dataclasses.replace(unsure, confidence=dict.fromkeys(unsure.fields, 0.97))
    message = Message((unsure, form("form1"), form("miat")), RECEIVED, "NMSS-BBBBBBBB", reply_address=PHARMACY)

    decision = decide_message(message, Known(), POLICY, TODAY)

    assert (decision.kind, decision.outcome.reasons if decision.outcome else ()) == ("review", ("ocr_uncertain",))
    assert [(t.kind, t.action) for t in decision.tasks] == [
        (
            "ocr_uncertain",
            "check the fields read from a scan against the form: the marked ones were not read surely enough",
        )
    ]
    assert decision.reply is not None, "the referrer still hears it is being checked by hand"
    sure_message = Message((sure, form("form1"), form("miat")), RECEIVED, "NMSS-BBBBBBBB", reply_address=PHARMACY)
    assert decide_message(sure_message, Known(), POLICY, TODAY).tasks == ()
