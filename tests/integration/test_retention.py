"""Retention's purge on both databases: the same facts, the same conditional updates, each thing purged once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from intake.commands import purge
from intake.mailboxes.maildir import MaildirMailbox
from intake.migrate import upgrade
from intake.pipeline import send_outbox, take_new_mail
from intake.store import FormRecord, OutboxRecord
from rules.retention import RetentionPeriods
from samples.scenarios import all_scenarios, deliver_to_maildir
from tests.services import pipeline_services

TODAY = dt.date(2026, 11, 27)
NOW = dt.datetime.combine(TODAY, dt.time(10), tzinfo=dt.UTC)
PERIODS = RetentionPeriods(copies_days=30, patient_days=365)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    upgrade(engine)
    return engine


def test_a_purge_takes_what_is_due_once_and_a_second_finds_nothing(engine: Engine, tmp_path: Path) -> None:
    deliver_to_maildir(tmp_path / "mailbox", all_scenarios(TODAY, seed=5))
    services = pipeline_services(engine, tmp_path / "outbox", clock=lambda: NOW)
    take_new_mail(MaildirMailbox(tmp_path / "mailbox"), services)
    send_outbox(services)  # the replies are sent: only then are their copies due
    later = TODAY + dt.timedelta(days=400)

    with services.unit_of_work() as uow:
        planned = purge(uow, PERIODS, today=later, now=NOW, tz=dt.UTC, dry_run=True)
    with services.unit_of_work() as uow:
        done = purge(uow, PERIODS, today=later, now=NOW, tz=dt.UTC)
    with services.unit_of_work() as uow:
        again = purge(uow, PERIODS, today=later, now=NOW, tz=dt.UTC)

    assert done == planned
    assert done.emails
    assert done.fields
    assert not done.referrals, "no referral was assessed: none is closed"
    assert not again
    with Session(engine) as session:
        emails = session.exec(select(OutboxRecord)).all()
        forms = session.exec(select(FormRecord)).all()
    assert {e.raw for e in emails if e.id in done.emails} == {b""}
    assert {f.fields_json for f in forms if f.message_id in done.fields} == {"{}"}
