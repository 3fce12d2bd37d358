"""Killed at the worst moments, the service loses no mail and sends no reply twice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from sqlmodel import Session, func, select

from config.settings import load_settings
from intake.bootstrap import App, bootstrap
from intake.mailbox import IncomingMail, MailRef
from intake.migrate import upgrade
from intake.pipeline import MAX_ATTEMPTS, send_outbox, take_new_mail
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

    def file(self, ref: MailRef, folder: str) -> None:
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


def test_a_message_that_keeps_killing_the_process_is_quarantined_after_three_tries(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    for _ in range(MAX_ATTEMPTS):
        app = app_for(service)
        with pytest.raises(Killed):
            take_new_mail(app.mailbox, replace(app.services, pool=FaultyPool(Killed)))

    app = app_for(service)
    taken = take_new_mail(app.mailbox, app.services)

    assert [t.outcome for t in taken] == ["quarantined"]
    assert service.folder_counts() == {"Quarantine": 1}


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
