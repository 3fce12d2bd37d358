"""The pipeline on both databases the service runs on: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Services, send_outbox, take_new_mail
from intake.store import FormFile, FormRecord, OutboxRecord, ReferralRecord
from parsers.mail import read_mail
from samples.scenarios import all_scenarios, deliver_to_maildir
from tests.services import pipeline_services

TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def engine(database_engine: Engine) -> Engine:
    """The database the tests run on (``NMSS_TEST_DATABASE``; ``make test`` runs both)."""
    return database_engine


def services(engine: Engine, outbox: Path) -> Services:
    return pipeline_services(engine, outbox, clock=lambda: dt.datetime.combine(TODAY, dt.time(10), tzinfo=dt.UTC))


def test_samples_are_decided_queued_and_replied_to_once_on_either_database(engine: Engine, tmp_path: Path) -> None:
    scenarios = all_scenarios(TODAY, seed=11)
    deliver_to_maildir(tmp_path / "mailbox", scenarios)
    service = services(engine, tmp_path / "outbox")

    first = take_new_mail(MaildirMailbox(tmp_path / "mailbox"), service)
    send_outbox(service)
    deliver_to_maildir(tmp_path / "mailbox", scenarios)  # the same emails again: one submission each
    second = take_new_mail(MaildirMailbox(tmp_path / "mailbox"), service)
    send_outbox(service)

    assert Counter(t.outcome for t in first) == Counter(s.expected_outcome for s in scenarios)
    assert {t.outcome for t in second} == {"duplicate"}
    with Session(engine) as session:
        queued = session.exec(select(ReferralRecord)).all()
        outbox = session.exec(select(OutboxRecord)).all()
    assert sorted(r.kind for r in queued) == ["mar_registration", "referral", "referral"]
    assert all(r.created_at.tzinfo is not None for r in queued)
    assert [o.state for o in outbox] == ["sent", "sent"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_every_document_is_kept_byte_for_byte_once_with_where_each_value_was_read(
    engine: Engine, tmp_path: Path
) -> None:
    scenarios = all_scenarios(TODAY, seed=11)
    deliver_to_maildir(tmp_path / "mailbox", scenarios)
    service = services(engine, tmp_path / "outbox")

    take_new_mail(MaildirMailbox(tmp_path / "mailbox"), service)
    deliver_to_maildir(tmp_path / "mailbox", scenarios)  # another delivery keeps nothing twice
    take_new_mail(MaildirMailbox(tmp_path / "mailbox"), service)

    attached = Counter(a.data for s in scenarios for a in read_mail(s.raw).attachments)
    with Session(engine) as session:
        kept = session.exec(select(FormFile)).all()
        forms = {f.id: f for f in session.exec(select(FormRecord)).all()}
    assert Counter(f.content for f in kept) == attached
    assert all(
        f.size == len(f.content or b"") and f.sha256 == hashlib.sha256(f.content or b"").hexdigest() for f in kept
    )
    places = [json.loads(forms[f.form_id].found_json) for f in kept if forms[f.form_id].source == "acroform"]
    assert places
    assert all(item["place"] is not None for found in places for item in found)
