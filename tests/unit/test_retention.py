"""What retention makes due on a day: only what is closed, filed or sent long enough ago, never what is open."""

from __future__ import annotations

import datetime as dt

from rules.retention import EmailFacts, MessageFacts, ReferralFacts, RetentionPeriods, due_for_purge

PERIODS = RetentionPeriods(copies_days=30, patient_days=365)
DAY = dt.date(2026, 1, 5)


def message(
    ledger_id: int, *, submission: int | None = None, filed: dt.date | None = DAY, tasks: int = 0
) -> MessageFacts:
    return MessageFacts(ledger_id, submission or ledger_id, filed, tasks, copy_held=True, fields_held=True)


def referral(
    *, assessed: bool = True, calls: tuple[dt.date | None, ...] = (DAY, DAY, DAY), kind: str = "referral"
) -> ReferralFacts:
    return ReferralFacts(7, kind, assessed, calls, patient_details_held=True)


def test_a_submission_that_never_became_a_referral_is_due_from_its_filing() -> None:
    plan = due_for_purge([message(1)], {}, [], today=DAY + dt.timedelta(days=30), periods=PERIODS)
    assert (plan.copies, plan.fields) == ((1,), ())
    assert not due_for_purge([message(1)], {}, [], today=DAY + dt.timedelta(days=29), periods=PERIODS)
    assert due_for_purge([message(1)], {}, [], today=DAY + dt.timedelta(days=365), periods=PERIODS).fields == (1,)


def test_a_closed_referral_is_due_from_its_last_call_and_takes_its_whole_submission() -> None:
    last_call = DAY + dt.timedelta(days=400)
    closed = referral(calls=(DAY, DAY, last_call))
    messages = [message(1), message(2, submission=1)]
    plan = due_for_purge(messages, {1: closed}, [], today=last_call + dt.timedelta(days=365), periods=PERIODS)
    assert (plan.copies, plan.fields, plan.referrals) == ((1, 2), (1, 2), (7,))
    assert not due_for_purge(messages, {1: closed}, [], today=last_call + dt.timedelta(days=29), periods=PERIODS)


def test_nothing_open_is_ever_due() -> None:
    years_on = DAY + dt.timedelta(days=3650)
    open_cases = {
        "not assessed": ([message(1)], {1: referral(assessed=False, calls=())}),
        "a call not made": ([message(1)], {1: referral(calls=(DAY, DAY, None))}),
        "a MAR registration": ([message(1)], {1: referral(kind="mar_registration", calls=())}),
        "a task open on a later message": ([message(1), message(2, submission=1, tasks=1)], {1: referral()}),
        "a message not yet filed": ([message(1, filed=None)], {}),
    }
    for case, (messages, referrals) in open_cases.items():
        assert not due_for_purge(messages, referrals, [], today=years_on, periods=PERIODS), case


def test_an_email_is_due_a_period_after_it_was_sent_and_never_while_unsent() -> None:
    emails = [EmailFacts(1, DAY, True), EmailFacts(2, None, True), EmailFacts(3, DAY, False)]
    assert due_for_purge([], {}, emails, today=DAY + dt.timedelta(days=30), periods=PERIODS).emails == (1,)
    assert not due_for_purge([], {}, emails, today=DAY + dt.timedelta(days=29), periods=PERIODS)


def test_what_was_purged_before_is_not_due_again() -> None:
    purged = MessageFacts(1, 1, DAY, 0, copy_held=False, fields_held=False)
    done = ReferralFacts(7, "referral", True, (DAY,) * 3, patient_details_held=False)
    assert not due_for_purge([purged], {1: done}, [], today=DAY + dt.timedelta(days=3650), periods=PERIODS)
