"""Killed at the worst moments, the service loses no mail and sends no reply twice."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

import intake.pipeline as pipeline
from config.settings import load_settings
from intake.bootstrap import App, bootstrap
from intake.mailbox import IncomingMail, MailRef
from intake.migrate import upgrade
from intake.pipeline import send_outbox, take_new_mail
from intake.solo import SoloAttempts, SoloEnd, SoloJob
from intake.store import MessageRecord, OutboxRecord
from samples.scenarios import Scenario, deliver_to_maildir
from tests.faults import FaultyPool

from .conftest import Service


class Killed(BaseException):
    """Stands for kill -9: a BaseException, so no `except Exception` in the pipeline can swallow it."""


def app_for(service: Service) -> App:
    app = bootstrap(load_settings())
    upgrade(app.engine)
    return app


def counts(app: App) -> tuple[int, int]:
    with Session(app.engine) as session:
        messages = session.exec(select(func.count()).select_from(MessageRecord)).one()
        outbox = session.exec(select(func.count()).select_from(OutboxRecord)).one()
    return messages, outbox


class KillOnFile:
    """A mailbox that dies the first time it is asked to file a message: after the commit, before the move."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]

    def fetch_new(self) -> Iterator[IncomingMail]:
        return self.inner.fetch_new()  # type: ignore[attr-defined,no-any-return]

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:
        raise Killed


@pytest.fixture
def one_incomplete(service: Service, scenarios: list[Scenario]) -> list[Scenario]:
    chosen = [s for s in scenarios if s.expected_outcome == "incomplete"][:1]
    deliver_to_maildir(service.mailbox, chosen)
    return chosen


def test_killed_after_the_decision_but_before_the_move_the_message_is_only_filed_on_restart(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    app = app_for(service)
    with pytest.raises(Killed):
        take_new_mail(KillOnFile(app.mailbox), app.services)
    assert counts(app) == (1, 1)

    restarted = app_for(service)
    assert take_new_mail(restarted.mailbox, restarted.services) == []
    send_outbox(restarted.services)

    assert counts(restarted) == (1, 1)
    assert service.inbox() == []
    assert service.folder_counts() == {"Incomplete": 1}
    assert len(list(service.outbox.glob("*.eml"))) == 1


def test_killed_while_deciding_the_message_is_decided_once_on_restart(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    app = app_for(service)
    with pytest.raises(Killed):
        take_new_mail(app.mailbox, replace(app.services, pool=FaultyPool(Killed)))
    assert counts(app) == (1, 0), "the ledger row is written before anything else"

    restarted = app_for(service)
    taken = take_new_mail(restarted.mailbox, restarted.services)
    send_outbox(restarted.services)

    assert [t.outcome for t in taken] == ["incomplete"]
    assert counts(restarted) == (1, 1)
    assert len(list(service.outbox.glob("*.eml"))) == 1


def test_killed_while_sending_the_reply_is_sent_again_as_the_same_email(
    service: Service, one_incomplete: list[Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(service)
    take_new_mail(app.mailbox, app.services)
    sent = []

    class SendThenDie:
        def send(self, message: object, *, key: str, recipients: Sequence[str]) -> None:
            app.sender.send(message, key=key, recipients=recipients)  # type: ignore[arg-type]
            sent.append(key)
            raise Killed

    with pytest.raises(Killed):
        send_outbox(replace(app.services, sender=SendThenDie()))  # type: ignore[arg-type]
    send_outbox(app.services)

    assert len(sent) == 1
    assert len(list(service.outbox.glob("*.eml"))) == 1, "the retry rewrote the same reply, not a second one"
    with Session(app.engine) as session:
        assert [o.state for o in session.exec(select(OutboxRecord)).all()] == ["sent"]


def die_alone(job: SoloJob) -> None:
    """A solo attempt for a message that kills the process deciding it: the child dies as such a message would
    make it die (sent to the child by name, so it lives at module level)."""
    os.kill(os.getpid(), signal.SIGKILL)


def ledger(app: App) -> list[MessageRecord]:
    with Session(app.engine) as session:
        return list(session.exec(select(MessageRecord).order_by(MessageRecord.id)).all())  # type: ignore[arg-type]


def crash_while_deciding(service: Service, times: int) -> None:
    """Kill the service ``times`` times while the waiting message is being decided (in its own process): the
    pool it is given stands for kill -9 arriving while its documents are parsed."""
    for _ in range(times):
        app = app_for(service)
        with pytest.raises(Killed):
            take_new_mail(app.mailbox, replace(app.services, pool=FaultyPool(Killed)))


def test_a_message_that_kills_the_process_deciding_it_alone_is_quarantined_after_three_solo_crashes(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    crash_while_deciding(service, times=1)

    app = app_for(service)
    taken = take_new_mail(app.mailbox, replace(app.services, solo=SoloAttempts(decide=die_alone)))

    assert [t.outcome for t in taken] == ["quarantined"]
    assert service.folder_counts() == {"Quarantine": 1}
    [row] = ledger(app)
    assert (row.error, row.solo_crashes) == ("GaveUp", pipeline.MAX_ATTEMPTS)


def test_crashes_of_the_service_while_a_message_is_in_flight_are_not_held_against_it(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    # Each restart decides the message alone first, in a child that finishes: the crashes were not its own.
    crash_while_deciding(service, times=pipeline.MAX_ATTEMPTS + 1)

    app = app_for(service)
    taken = take_new_mail(app.mailbox, app.services)
    send_outbox(app.services)

    assert [t.outcome for t in taken] == ["incomplete"]
    [row] = ledger(app)
    assert (row.attempts, row.solo_crashes) == (pipeline.MAX_ATTEMPTS + 2, 0)
    assert len(list(service.outbox.glob("*.eml"))) == 1


class KilledWhileWaiting:
    """Solo attempts during which the service itself is killed, as it waits for the child."""

    def attempt(self, job: SoloJob) -> SoloEnd:
        raise Killed


def test_a_kill_of_the_service_during_a_solo_attempt_counts_for_nothing(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    crash_while_deciding(service, times=1)
    for _ in range(pipeline.MAX_ATTEMPTS + 1):
        app = app_for(service)
        with pytest.raises(Killed):
            take_new_mail(app.mailbox, replace(app.services, solo=KilledWhileWaiting()))
    assert [row.solo_crashes for row in ledger(app)] == [0]

    app = app_for(service)
    assert [t.outcome for t in take_new_mail(app.mailbox, app.services)] == ["incomplete"]


def test_a_message_the_pipeline_fails_on_is_quarantined_and_the_rest_go_on(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    hostile = next(s for s in scenarios if s.expected_outcome == "accepted")
    pool = FaultyPool.on_messages(hostile.raw, error=lambda: RuntimeError("something in a hostile file"))
    app = app_for(service)
    taken = take_new_mail(app.mailbox, replace(app.services, pool=pool))

    assert len(taken) == len(scenarios)
    assert [t.outcome for t in taken].count("quarantined") == 1
    assert service.inbox() == []


def test_the_same_email_delivered_twice_is_one_submission_with_one_reply(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, one_incomplete)
    app = app_for(service)

    taken = take_new_mail(app.mailbox, app.services)
    send_outbox(app.services)

    assert sorted(t.outcome for t in taken) == ["duplicate", "incomplete"]
    assert len(list(service.outbox.glob("*.eml"))) == 1
    assert service.folder_counts() == {"Duplicate": 1, "Incomplete": 1}


def test_two_pollers_cannot_work_on_one_mailbox_at_once(service: Service) -> None:
    from intake.bootstrap import poller_lock
    from intake.errors import AlreadyRunning

    app = app_for(service)
    with poller_lock(app), pytest.raises(AlreadyRunning), poller_lock(app_for(service)):
        pass


def test_a_message_the_mailbox_refuses_to_file_keeps_its_decision_the_rest_go_on_and_the_next_run_files_it(
    service: Service, scenarios: list[Scenario]
) -> None:
    deliver_to_maildir(service.mailbox, scenarios)
    incomplete = sum(s.expected_outcome == "incomplete" for s in scenarios)
    (service.mailbox / ".Incomplete").write_bytes(b"")  # a file where the folder should be: every move fails

    first = service.invoke("run", "--once")

    assert first.exit_code == 0, first.output
    assert f"Took {len(scenarios)} message(s)" in first.stdout
    assert first.stdout.count("to be filed in Incomplete (the mailbox refused)") == incomplete
    assert f"{incomplete} message(s) could not be filed" in first.stdout
    assert len(service.inbox()) == incomplete
    replies = sorted(p.name for p in service.outbox.glob("*.eml"))
    assert len(replies) >= incomplete, "the outbox was still sent"

    (service.mailbox / ".Incomplete").unlink()
    second = service.invoke("run", "--once")

    assert (second.exit_code, second.stdout) == (0, "Nothing new in mailbox intake.\n")
    assert service.inbox() == []
    assert service.folder_counts()["Incomplete"] == incomplete
    assert sorted(p.name for p in service.outbox.glob("*.eml")) == replies, "filed, not decided or answered again"


class NoProcessesLeft:
    """Solo attempts on a machine that cannot start another process."""

    def attempt(self, job: SoloJob) -> SoloEnd:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


def test_when_no_solo_attempt_can_be_started_the_message_is_decided_as_usual(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    crash_while_deciding(service, times=1)

    app = app_for(service)
    taken = take_new_mail(app.mailbox, replace(app.services, solo=NoProcessesLeft()))

    assert [t.outcome for t in taken] == ["incomplete"], "the machine's trouble is not held against the message"
    assert [row.solo_crashes for row in ledger(app)] == [0]


def attempts_so_far(service: Service) -> dict[int, int]:
    """Each ledger row's attempts, read as another process sees them; {} until the run has made the table."""
    return {int(row[0]): int(row[1]) for row in service.rows("SELECT id, attempts FROM message")}


def kill_once_a_decision_has_started(service: Service, log: Path) -> None:
    """Start `run --once` and SIGKILL it as soon as it has started deciding a message (or let it finish)."""
    env = service.environment()
    before = attempts_so_far(service)
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("nmss-intake")), "run", "--once"],
            cwd=service.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 300  # a generous bound for a busy machine, not a measurement
        while process.poll() is None:
            now = attempts_so_far(service)
            if any(count > before.get(row, 0) for row, count in now.items()):
                break
            if time.monotonic() > deadline:
                pytest.fail("the run never started deciding a message")
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait(timeout=60)


def test_killed_with_sigkill_each_time_a_run_starts_deciding_no_message_is_given_up_or_answered_twice(
    service: Service, scenarios: list[Scenario]
) -> None:
    # Every kill lands while a message is in flight, and after the first the same message is first in line
    # each time: more kills than MAX_ATTEMPTS on one message that has done nothing wrong.
    deliver_to_maildir(service.mailbox, scenarios)
    kills = pipeline.MAX_ATTEMPTS + 2
    for kill in range(kills):
        kill_once_a_decision_has_started(service, service.root / f"run-{kill}.log")

    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output

    app = app_for(service)
    rows = ledger(app)
    expected = {hashlib.sha256(s.raw).hexdigest(): s.expected_outcome for s in scenarios}
    assert sorted(r.sha256 for r in rows) == sorted(expected), "every message taken, once"
    assert [r.outcome for r in rows if r.outcome == "quarantined"] == [], "no message was given up"
    assert {r.sha256: r.outcome for r in rows} == expected
    assert max(r.attempts for r in rows) > pipeline.MAX_ATTEMPTS, "one message was in flight at every kill"
    assert service.inbox() == []
    with Session(app.engine) as session:
        outbox = session.exec(select(OutboxRecord)).all()
    assert len(outbox) == sum(1 for r in rows if r.outcome in ("incomplete", "misrouted")), "one reply each"
    assert len(list(service.outbox.glob("*.eml"))) == len(outbox)
