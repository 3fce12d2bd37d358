"""Instances sharing one PostgreSQL database: the poller's lease, and the outbox sent by all of them at once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from config.settings import MailboxSettings, OutgoingSettings, RetrySettings, Settings
from intake.bootstrap import bootstrap
from intake.daemon import poll_once
from intake.errors import LeaseUnavailable
from intake.lease import FileLease, HeldLease, PostgresLease, make_lease
from intake.migrate import upgrade
from intake.outbox import send_due
from intake.store import OutboxRecord
from intake.unit_of_work import UnitOfWork
from samples.scenarios import deliver_to_maildir, incomplete
from tests.conftest import _free_port

NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
GUARD_SECONDS = 60.0
"""How long a wait may last before the test fails: a guard against a hang, not a measure of speed."""


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {GUARD_SECONDS:.0f} s for {what}")
        time.sleep(0.01)


# -- the lease ----------------------------------------------------------------------------------------------------


def test_one_instance_holds_a_mailbox_s_lease_and_the_next_takes_it_once_it_is_given_up(
    postgres_engine: Engine,
) -> None:
    first = PostgresLease(url_of(postgres_engine), "intake", takeover_seconds=5)
    second = PostgresLease(url_of(postgres_engine), "intake", takeover_seconds=5)
    other_mailbox = PostgresLease(url_of(postgres_engine), "mar", takeover_seconds=5)
    try:
        assert (first.hold(), second.hold(), other_mailbox.hold()) == (True, False, True)
        assert (first.hold(), second.hold()) == (True, False), "held until given up, checked each time"
        first.release()
        assert second.hold()
        assert not first.hold()
    finally:
        for lease in (first, second, other_mailbox):
            lease.release()


def test_a_holder_whose_connection_is_cut_knows_it_has_lost_the_lease_and_another_takes_it(
    postgres_engine: Engine,
) -> None:
    holder = PostgresLease(url_of(postgres_engine), "intake", takeover_seconds=5)
    standby = PostgresLease(url_of(postgres_engine), "intake", takeover_seconds=5)
    try:
        assert holder.hold()
        assert not standby.hold()
        # As a network failure or a server restart would: the holder's session ends under it.
        with postgres_engine.connect() as connection:
            ended = connection.execute(
                text(
                    # Waits (up to a minute) for the backend to have ended, not only been signalled: on a busy machine
                    # the lock is still held for a moment after the signal.
                    "SELECT pg_terminate_backend(pid, 60000) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).all()
            assert ended == [(True,)]
            connection.commit()
        assert standby.hold(), "the lock went with the session"
        assert not holder.hold(), "the old holder does not poll on"
    finally:
        holder.release()
        standby.release()


def test_a_lease_the_database_cannot_answer_for_is_said_so_not_taken_for_another_poller() -> None:
    lease = PostgresLease(f"postgresql+psycopg://nmss@127.0.0.1:{_free_port()}/nmss", "intake", takeover_seconds=2)

    assert not lease.hold()
    assert lease.problem == "OperationalError"
    with pytest.raises(LeaseUnavailable, match="the database did not answer"), HeldLease(lease):
        pass


def test_the_lease_is_a_file_lock_on_sqlite_and_an_advisory_lock_on_postgresql(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    assert isinstance(make_lease(f"sqlite:///{tmp_path}/nmss.db", tmp_path, "intake", takeover_seconds=5), FileLease)
    lease = make_lease(url_of(postgres_engine), tmp_path, "intake", takeover_seconds=5)
    assert isinstance(lease, PostgresLease)
    assert lease.shared


# -- the outbox, sent by two instances at once ----------------------------------------------------------------------


class Recorder:
    """A sender that notes what it was given; ``hold_first`` keeps its first send waiting until ``release`` is set."""

    def __init__(self, sent: list[str], lock: threading.Lock, *, hold_first: threading.Event | None = None) -> None:
        self.sent = sent
        self.lock = lock
        self.hold_first = hold_first
        self.calls = 0
        self.sent_one = threading.Event()

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:
        self.calls += 1
        if self.calls == 1 and self.hold_first is not None:
            assert self.hold_first.wait(GUARD_SECONDS), "the other instance never sent anything"
        with self.lock:
            self.sent.append(key)
        self.sent_one.set()


def reply(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "agem.norfolkmedicineservices@nhs.net"
    message["To"] = f"pharmacy{n}@nhs.net"
    message["Subject"] = "Your referral"
    message["Message-ID"] = f"<reply-{n}@nhs.net>"
    message.set_content("Thank you.")
    return message


def test_two_instances_sending_at_once_take_different_rows_and_send_each_email_once(postgres_engine: Engine) -> None:
    upgrade(postgres_engine)
    with UnitOfWork(postgres_engine) as uow:
        for n in range(20):
            uow.outbox.enqueue(f"reply-{n}", "reply_incomplete", reply(n), now=NOW)
        uow.commit()
    sent: list[str] = []
    lock = threading.Lock()
    second = Recorder(sent, lock)
    # The first instance is stuck sending its first row (a slow server) until the second has sent one: the
    # second can do so only by skipping the row the first has locked.
    first = Recorder(sent, lock, hold_first=second.sent_one)
    retry = RetrySettings()
    results = []

    def instance(sender: Recorder) -> None:
        results.append(send_due(postgres_engine, sender, clock=lambda: NOW, retry=retry))

    threads = [threading.Thread(target=instance, args=(sender,)) for sender in (first, second)]
    threads[0].start()
    wait_for(lambda: first.calls == 1, "the first instance to start sending")
    threads[1].start()
    for thread in threads:
        thread.join(GUARD_SECONDS)
        assert not thread.is_alive()

    assert Counter(sent) == Counter(f"reply-{n}" for n in range(20)), "every email once"
    assert sum(r.sent for r in results) == 20
    assert second.calls >= 1, "both instances sent"
    with Session(postgres_engine) as session:
        assert {row.state for row in session.exec(select(OutboxRecord))} == {"sent"}


def test_two_instances_queueing_one_email_at_once_make_one_row_and_neither_fails(postgres_engine: Engine) -> None:
    upgrade(postgres_engine)
    put: list[bool] = []
    with UnitOfWork(postgres_engine) as uow:
        put.append(uow.outbox.enqueue("digest-2026-11-27", "digest", reply(1), now=NOW))

        # The other instance queues the same digest before this one commits: it waits for this commit,
        # then finds the row there, rather than failing on the unique key.
        def other() -> None:
            with UnitOfWork(postgres_engine) as theirs:
                put.append(theirs.outbox.enqueue("digest-2026-11-27", "digest", reply(1), now=NOW))
                theirs.commit()

        thread = threading.Thread(target=other)
        thread.start()
        wait_for(lambda: waiting_on_a_lock(postgres_engine), "the other instance to wait for this one")
        uow.commit()
    thread.join(GUARD_SECONDS)

    assert put == [True, False]
    with Session(postgres_engine) as session:
        assert len(session.exec(select(OutboxRecord)).all()) == 1


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


# -- the daemon's poll --------------------------------------------------------------------------------------------


def test_a_standby_s_poll_takes_no_mail_until_the_holder_gives_the_lease_up(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    url = url_of(postgres_engine)
    settings = Settings(
        database_url=url,  # type: ignore[arg-type]
        state_dir=tmp_path / "state",
        mailbox=MailboxSettings(path=tmp_path / "mailbox"),
        outgoing=OutgoingSettings(outbox_path=tmp_path / "outbox"),
    )
    upgrade(postgres_engine)
    deliver_to_maildir(tmp_path / "mailbox", [incomplete(NOW.date(), seed=3)])
    holder = PostgresLease(url, settings.mailbox.name, takeover_seconds=5)
    app = bootstrap(settings)
    try:
        assert holder.hold()
        poll_once(app)
        assert len(list((tmp_path / "mailbox" / "new").iterdir())) == 1, "the standby left the mail alone"

        holder.release()
        poll_once(app)
    finally:
        holder.release()
        app.lease.release()
        app.engine.dispose()
    assert list((tmp_path / "mailbox" / "new").iterdir()) == []
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1, "taken over, it took the mail and replied"


class CutOff:
    """A sender whose server takes the email, after which every other connection to the database is cut (as a
    PostgreSQL restart or fail-over does) before the outbox can record the send."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[str] = []

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:
        self.sent.append(key)
        with self.engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )


def test_an_email_whose_send_the_database_lost_is_recorded_as_sent_when_it_is_back_not_sent_again(
    postgres_engine: Engine,
) -> None:
    upgrade(postgres_engine)
    with UnitOfWork(postgres_engine) as uow:
        uow.outbox.enqueue("reply-1", "reply_incomplete", reply(1), now=NOW)
        uow.commit()
    sender = CutOff(postgres_engine)

    send_due(postgres_engine, sender, clock=lambda: NOW, retry=RetrySettings(), sleep=lambda _seconds: None)
    send_due(postgres_engine, sender, clock=lambda: NOW, retry=RetrySettings(), sleep=lambda _seconds: None)

    assert sender.sent == ["reply-1"], "sent once"
    with Session(postgres_engine) as session:
        [row] = session.exec(select(OutboxRecord)).all()
    assert (row.state, row.attempts) == ("sent", 1)
