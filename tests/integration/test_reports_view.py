"""The reports read from real databases: a submission counted once, in the week it arrived, with the outcome
its last email gave it; waits from the message a referral was queued from; calls by their due day."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from intake.migrate import upgrade
from intake.store import AssessmentRecord, FollowUpRecord, MessageRecord, ReferralRecord
from intake.unit_of_work import UnitOfWork
from intake.views import reports

LONDON = ZoneInfo("Europe/London")
TODAY = dt.date(2026, 11, 25)  # a Wednesday
MONDAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    upgrade(engine)
    return engine


def message(uid: str, at: dt.datetime, outcome: str, *, submission_of: int | None = None) -> MessageRecord:
    return MessageRecord(
        source="intake", folder="INBOX", uid=uid, sha256=uid * 64, size=1, received_at=at, taken_at=at,
        reference=f"NMSS-TEST{uid:0>4}", state="filed", outcome=outcome, submission_of=submission_of,
    )  # fmt: skip


def test_a_submission_completed_later_counts_once_with_its_last_outcome(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        first = uow.ledger.add(message("1", MONDAY - dt.timedelta(days=7), "incomplete"))
        uow.ledger.add(message("2", MONDAY, "accepted", submission_of=first.id))
        uow.ledger.add(message("3", MONDAY, "incomplete"))
        uow.ledger.add(message("4", MONDAY, "not_a_submission"))
        uow.commit()

    with UnitOfWork(engine) as uow:
        report = reports(uow, TODAY, LONDON)

    last_week, this_week = report.referrals[-2], report.referrals[-1]
    assert (last_week.counts["accepted"], last_week.total) == (1, 1)
    assert (this_week.counts["incomplete"], this_week.total) == (1, 1)


def test_waits_and_calls_are_read_from_the_referral_and_its_calls(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        queued = uow.ledger.add(message("1", MONDAY - dt.timedelta(days=7), "accepted"))
        assert queued.id is not None
        referral = ReferralRecord(
            reference=queued.reference, message_id=queued.id, kind="referral", status="new", outcome="accepted",
            created_at=queued.received_at,
        )  # fmt: skip
        uow.queue.save(referral)
        uow.session.flush()
        assert referral.id is not None
        uow.followups.save(AssessmentRecord(referral_id=referral.id, assessed_on=TODAY, recorded_at=MONDAY))
        uow.followups.save(FollowUpRecord(referral_id=referral.id, kind="6w", due=TODAY - dt.timedelta(days=2)))
        uow.commit()

    with UnitOfWork(engine) as uow:
        report = reports(uow, TODAY, LONDON)

    assert (report.waits[-2].assessments, report.waits[-2].median, report.waits[-2].p90) == (1, 7.0, 7)
    six_weeks = report.calls[0]
    assert (six_weeks.kind, six_weeks.not_made, six_weeks.on_time) == ("6w", 1, 0)
