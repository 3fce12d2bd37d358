"""A message has a time budget: forty slow files cannot hold the referral behind them for forty parse limits."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from sqlmodel import Session, select

from intake.assess import reference_for
from intake.store import FormRecord, MessageRecord, OutboxRecord, make_engine
from samples.emails import referral_email
from samples.scenarios import Scenario
from tests.integration.test_hostile import nested_forms

from .conftest import LONDON, Service, log_events, today


def deliver_in_order(service: Service, *messages: bytes) -> None:
    """Put ``messages`` in the Maildir so that the service takes them in this order (oldest first)."""
    new = service.mailbox / "new"
    new.mkdir(parents=True)
    for sub in ("tmp", "cur"):
        (service.mailbox / sub).mkdir()
    delivered = int(time.time()) - len(messages)  # the delivery time is the day received
    for number, raw in enumerate(messages):
        path = new / f"{number:03d}.eml"
        path.write_bytes(raw)
        os.utime(path, (delivered + number, delivered + number))


def attack() -> bytes:
    return referral_email(
        # Forty different files: identical ones are parsed once.
        attachments=[(f"Form 2 part {n}.pdf", nested_forms() + b"%% part %d\n" % n) for n in range(40)],
        sender="pharmacy.attacked@nhs.net",
        subject="Referral",
        date=dt.datetime.combine(today(), dt.time(9), tzinfo=LONDON),
        message_id="<forty-slow-files@nhs.net>",
    )


def test_forty_slow_files_cost_one_budget_go_to_the_team_and_the_referral_behind_is_decided_in_the_same_run(
    service: Service, scenarios: list[Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each file would take its whole 2 s limit: 80 s for the message, but its budget is 10 s. The budget is
    # generous beside what the referral behind needs (a worker's start-up and three forms parsed).
    monkeypatch.setenv("NMSS_LIMITS__PARSE_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("NMSS_LIMITS__MESSAGE_BUDGET_SECONDS", "10")
    referral = next(s for s in scenarios if s.expected_outcome == "accepted")
    hostile = attack()
    deliver_in_order(service, hostile, referral.raw)

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    decided = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if "filed in" in line}
    assert decided == {reference_for(hostile): "review", reference_for(referral.raw): "accepted"}
    engine = make_engine(service.database)
    with Session(engine) as session:
        row = session.exec(select(MessageRecord).where(MessageRecord.reference == reference_for(hostile))).one()
        problems = [f.problem for f in session.exec(select(FormRecord).where(FormRecord.message_id == row.id))]
        replies = [
            (o.kind, o.state) for o in session.exec(select(OutboxRecord).where(OutboxRecord.message_id == row.id))
        ]
    engine.dispose()
    assert problems == ["timeout"] * 40
    # At most five files can have had their 2 s in 10 s: the rest were never given to a worker.
    [spent] = [e for e in log_events(result.stderr) if e["event"] == "message_budget_spent"]
    assert isinstance(spent["skipped"], int)
    assert spent["skipped"] >= 35
    assert replies == [("reply_unreadable", "sent")]  # "your referral will be checked by the team"
    assert service.folder_counts() == {"Accepted": 1, "Review": 1}
