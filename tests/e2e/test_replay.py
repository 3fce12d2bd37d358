"""A message that crashes the pipeline is quarantined with its raw bytes, the rest go on, and `replay` retries it."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.store import QuarantineRecord
from samples.scenarios import Scenario, deliver_to_maildir
from tests.faults import FaultyPool

from .conftest import Service


class Boom(Exception):
    """What a bug in the pipeline looks like from outside."""


def crash_on(service: Service, raw: bytes, error: type[Exception] = Boom) -> FaultyPool:
    """Make every later command's pipeline fail on the message with these bytes only, as a parser bug would."""
    pool = FaultyPool.on_messages(raw, error=lambda: error("a bug"))
    service.dependencies["pool"] = pool
    return pool


def quarantined_ids(service: Service) -> list[int]:
    status = json.loads(service.invoke("status", "--json").stdout)
    return [item["id"] for item in status["quarantined"]]


def test_a_crashing_message_is_quarantined_with_its_bytes_while_the_others_are_decided(
    service: Service, scenarios: list[Scenario]
) -> None:
    bad = next(s for s in scenarios if s.expected_outcome == "accepted")
    deliver_to_maildir(service.mailbox, scenarios)
    crash_on(service, bad.raw)

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert result.stdout.count("quarantined") == 1
    assert service.folder_counts()["Quarantine"] == 1
    assert sum(service.folder_counts().values()) == len(scenarios)
    [ledger_id] = quarantined_ids(service)
    app = bootstrap(load_settings())
    with Session(app.engine) as session:
        stored = session.get(QuarantineRecord, ledger_id)
    assert stored is not None
    assert (stored.raw, stored.error) == (bad.raw, "Boom")


def test_replay_decides_the_message_again_and_queues_it_once_the_bug_is_fixed(
    service: Service, scenarios: list[Scenario]
) -> None:
    bad = next(s for s in scenarios if s.expected_outcome == "accepted")
    deliver_to_maildir(service.mailbox, scenarios)
    pool = crash_on(service, bad.raw)
    service.invoke("run", "--once")
    [ledger_id] = quarantined_ids(service)
    queued_before = json.loads(service.invoke("referrals", "list", "--json").stdout)
    [task] = json.loads(service.invoke("tasks", "list", "--json").stdout)
    assert task["action"] == (
        f"message {ledger_id} could not be processed (Boom): replay it once the cause is fixed "
        f"(nmss-intake replay {ledger_id})"
    )
    pool.heal()

    result = service.invoke("replay", str(ledger_id))

    assert (result.exit_code, result.stdout) == (0, f"Replayed message {ledger_id}: accepted, filed in Accepted.\n")
    queued_after = json.loads(service.invoke("referrals", "list", "--json").stdout)
    assert len(queued_after) == len(queued_before) + 1
    assert quarantined_ids(service) == []
    assert json.loads(service.invoke("tasks", "list", "--json").stdout) == [], "the replay closed the task"
    app = bootstrap(load_settings())
    with Session(app.engine) as session:
        assert session.exec(select(QuarantineRecord)).all() == [], "a decided message's copy is not kept"


def test_a_replay_that_fails_again_leaves_the_message_quarantined_with_the_new_error(
    service: Service, scenarios: list[Scenario]
) -> None:
    bad = scenarios[0]
    deliver_to_maildir(service.mailbox, [bad])
    crash_on(service, bad.raw)
    service.invoke("run", "--once")
    [ledger_id] = quarantined_ids(service)
    crash_on(service, bad.raw, MemoryError)

    result = service.invoke("replay", str(ledger_id))

    assert (result.exit_code, result.stdout) == (
        0,
        f"Replayed message {ledger_id}: quarantined, filed in Quarantine.\n",
    )
    status = json.loads(service.invoke("status", "--json").stdout)
    assert [(q["id"], q["error"]) for q in status["quarantined"]] == [(ledger_id, "MemoryError")]


def test_replaying_a_message_that_is_not_quarantined_is_a_one_line_error(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios[:1])
    service.invoke("run", "--once")

    decided = service.invoke("replay", "1")
    unknown = service.invoke("replay", "999")

    assert (decided.exit_code, decided.stderr) == (1, "Error: message 1 is not quarantined\n")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: message 999 is not quarantined\n")


def test_a_message_replayed_twice_is_decided_only_once(service: Service, scenarios: list[Scenario]) -> None:
    bad = next(s for s in scenarios if s.expected_outcome == "incomplete")
    deliver_to_maildir(service.mailbox, [bad])
    pool = crash_on(service, bad.raw)
    service.invoke("run", "--once")
    [ledger_id] = quarantined_ids(service)
    pool.heal()

    first = service.invoke("replay", str(ledger_id))
    second = service.invoke("replay", str(ledger_id))

    assert first.exit_code == 0
    assert second.exit_code == 1
    assert len(list(service.outbox.glob("*.eml"))) == 1, "one automatic reply, not two"
