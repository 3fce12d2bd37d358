"""Team tasks as data: what a person must do by hand, and the words that say it.

A decision, a send that failed for good and a mailbox outage each make tasks; the shell stores them once per
event and shows them (``nmss-intake tasks list``, the digest's "Needing your action"). The words here are the
only place a task's action is written. They carry codes and references, never patient data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HELD_BACK_WHY: Mapping[str, str] = {
    "auto-submitted": "the email was sent by a machine (Auto-Submitted)",
    "precedence-bulk": "the email was bulk mail (Precedence)",
    "list": "the email came from a mailing list",
    "null-return-path": "the email had no return path",
    "delivery-report": "the email was a delivery report",
    "system-sender": "the sender is a system address",
    "own-address": "the email came from the service's own address",
    "loop": "the email had already passed through the service",
    "own-message-id": "the email was one of the service's own",
    "no-reply-address": "the email gives no address to reply to",
    "unsafe-header": "the email's headers could not be answered safely",
    "rate-limit-sender": "this sender reached the daily limit of automatic replies",
    "rate-limit-submission": "this submission has had its automatic reply already",
}
"""Why an automatic reply was held back, per code, as the team reads it."""


@dataclass(frozen=True)
class Task:
    """One thing for the team to do: its ``kind`` (a code) and the ``action`` in words."""

    kind: str
    action: str


def held_back_task(why: str) -> Task:
    """Reply by hand: the automatic reply due was not written, for the reason ``why`` (a code)."""
    reason = HELD_BACK_WHY.get(why, why.replace("-", " "))
    return Task("reply_held_back", f"reply by hand: the automatic reply was held back ({reason})")


def reply_without_forms_task() -> Task:
    """Read the referrer's answer to our reply: it came with no attachment."""
    return Task("reply_without_forms", "read the referrer's reply and answer it: it came without forms")


def unread_message_task(reason: str) -> Task:
    """Check an email by hand that could not itself be read (``reason``: ``message_read_timeout`` or
    ``message_too_large_to_read``): nobody was answered."""
    return Task(reason, "check the email and its attachments by hand, with care: it could not be read automatically")


def unreadable_form_task() -> Task:
    """Check a form by hand: it could not be read automatically."""
    return Task("unreadable_form", "check the form by hand: it could not be read automatically")


def ocr_uncertain_task() -> Task:
    """Check the values read from a scanned or photographed form against the form itself: OCR did not read
    them surely enough (or a required one failed its checks), so the referral waits in review."""
    return Task(
        "ocr_uncertain",
        "check the fields read from a scan against the form: the marked ones were not read surely enough",
    )


UNTRUSTED_WHY: Mapping[str, str] = {
    "reference_from_unknown_sender": "it quotes {reference} but comes from an address we never wrote to about it",
    "reply_from_unknown_sender": "it answers our reply{about} but comes from an address that reply did not go to",
    "reply_to_unknown_message": "it claims to answer a reply of ours that we never sent",
}
"""Why a message is not given the submission it names, as the team reads it."""


def untrusted_claim_task(reason: str, reference: str | None) -> Task:
    """Check who sent a message that names a submission (``reference``, if known) it is not trusted with, for
    the reason ``reason`` (a code: ``rules.decision.UntrustedReason``)."""
    why = UNTRUSTED_WHY.get(reason, reason.replace("_", " ")).format(
        reference=reference or "a reference", about=f" about {reference}" if reference else ""
    )
    return Task(reason, f"check who sent it: {why}")


EMAIL_KINDS: Mapping[str, str] = {
    "digest": "the digest",
    "followup_reminder": "the follow-up call reminder",
    "mailbox_down": "the email saying a mailbox cannot be read",
    "mailbox_recovered": "the email saying a mailbox can be read again",
}
"""What each kind of outgoing email is called, for the team; every ``reply_…`` is an automatic reply."""


def send_failed_task(kind: str) -> Task:
    """Send an email by hand: the outbox gave up on it (``kind`` is the outbox row's kind)."""
    what = "the automatic reply" if kind.startswith("reply_") else EMAIL_KINDS.get(kind, f"the {kind} email")
    return Task("send_failed", f"send it by hand: {what} could not be sent")


def quarantined_task(ledger_id: int, error: str) -> Task:
    """Look at a message the pipeline failed on (``error`` a class name, or ``too_large`` for one left unread)."""
    if error == "too_large":
        return Task(
            "quarantined",
            f"handle message {ledger_id} from the Quarantine folder: it was over the size limit and was not read",
        )
    return Task(
        "quarantined",
        f"message {ledger_id} could not be processed ({error}): replay it once the cause is fixed "
        f"(nmss-intake replay {ledger_id})",
    )


def mailbox_down_task(mailbox: str, failures: int) -> Task:
    """Restore the service's access to ``mailbox``: it has failed ``failures`` polls in a row."""
    return Task(
        "mailbox_down",
        f"restore access to mailbox {mailbox}: it could not be read {failures} times in a row "
        "(nmss-intake status shows the error)",
    )
