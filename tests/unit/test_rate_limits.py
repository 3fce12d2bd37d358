"""Limits on automatic replies, the retry back-off, and how a resubmission's forms join the earlier ones.

What a resubmission becomes (a reply without forms, a reference from a stranger) is in test_decision.py's table.
"""

from __future__ import annotations

import datetime as dt

import pytest

from config.settings import ReplyLimitSettings, RetrySettings
from intake.outbox import backoff
from parsers.types import Form, Unreadable
from rules.decision import answers_our_reply, limit_reason, merge_documents

LIMITS = ReplyLimitSettings()


def test_by_default_a_sender_gets_at_most_ten_replies_a_day_and_a_submission_one() -> None:
    # Three a day held back replies to a busy pharmacy sending several patients' referrals in one morning.
    assert (LIMITS.per_sender_per_day, LIMITS.per_submission) == (10, 1)


@pytest.mark.parametrize("earlier", [0, 1, 9])
def test_a_reply_within_both_limits_is_allowed(earlier: int) -> None:
    assert limit_reason(replies_to_sender=earlier, replies_for_submission=0, limits=LIMITS) is None


def test_an_eleventh_reply_to_one_sender_within_a_day_is_held_back() -> None:
    assert limit_reason(replies_to_sender=10, replies_for_submission=0, limits=LIMITS) == "rate-limit-sender"


def test_a_second_reply_about_one_submission_is_held_back() -> None:
    assert limit_reason(replies_to_sender=1, replies_for_submission=1, limits=LIMITS) == "rate-limit-submission"


def test_the_submission_limit_is_named_first_when_both_are_reached() -> None:
    assert limit_reason(replies_to_sender=9, replies_for_submission=1, limits=LIMITS) == "rate-limit-submission"


def test_limits_are_configuration() -> None:
    generous = ReplyLimitSettings(per_sender_per_day=20, per_submission=2)
    assert limit_reason(replies_to_sender=19, replies_for_submission=1, limits=generous) is None


def test_the_wait_between_tries_doubles_from_the_base_up_to_the_cap() -> None:
    retry = RetrySettings(base_seconds=60, max_seconds=600)
    waits = [backoff(attempt, retry).total_seconds() for attempt in range(1, 7)]
    assert waits == [60, 120, 240, 480, 600, 600]


def test_the_wait_stays_at_the_cap_however_long_an_outage_lasts() -> None:
    assert backoff(10_000, RetrySettings(base_seconds=60, max_seconds=3600)) == dt.timedelta(hours=1)


# -- resubmissions ------------------------------------------------------------------------------------------


def form(kind: str, filename: str) -> Form:
    return Form(kind=kind, filename=filename, fields={"patient.surname": "Testperson"})  # type: ignore[arg-type]


def test_a_new_form_joins_the_forms_the_submission_already_has() -> None:
    earlier = (form("form2", "Form 2.pdf"), form("form1", "Form 1.pdf"))
    merged = merge_documents(earlier, (form("miat", "MIAT.pdf"),))
    assert [d.filename for d in merged] == ["Form 2.pdf", "Form 1.pdf", "MIAT.pdf"]


def test_a_newer_form_of_a_kind_replaces_the_older_one() -> None:
    earlier = (form("form2", "old Form 2.pdf"), form("form1", "Form 1.pdf"))
    merged = merge_documents(earlier, (form("form2", "new Form 2.pdf"), form("miat", "MIAT.pdf")))
    assert [d.filename for d in merged] == ["Form 1.pdf", "new Form 2.pdf", "MIAT.pdf"]


def test_an_earlier_attachment_that_was_not_a_form_is_not_carried_forward() -> None:
    earlier = (form("form2", "Form 2.pdf"), Unreadable("letter.pdf", "unrecognised"))
    merged = merge_documents(earlier, (form("miat", "MIAT.pdf"),))
    assert [d.filename for d in merged] == ["Form 2.pdf", "MIAT.pdf"]


def test_only_the_address_our_reply_went_to_may_answer_it() -> None:
    assert answers_our_reply("pharmacy.a@nhs.net", "pharmacy.a@nhs.net")
    assert answers_our_reply("pharmacy.a@nhs.net", "Pharmacy.A@NHS.net"), "a mailbox's case does not matter"
    assert answers_our_reply("pharmacy.a@nhs.net", "Pharmacy A <pharmacy.a@nhs.net>")
    assert answers_our_reply("pharmacy.a@nhs.net", "pharmacy.a+referrals@nhs.net"), "a +tag reaches the same mailbox"
    assert not answers_our_reply("pharmacy.b@nhs.net", "pharmacy.a@nhs.net")
    assert not answers_our_reply("stranger@example.org", "pharmacy.a@nhs.net")
    assert not answers_our_reply("pharmacy.a@nhs.net.example.org", "pharmacy.a@nhs.net")
    assert not answers_our_reply(None, "pharmacy.a@nhs.net"), "a message with no sender answers nothing"
    assert not answers_our_reply("", "")
