"""The unit of work on real databases: nothing stays unless committed, and keyed writes happen once."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine

from intake.migrate import upgrade
from intake.store import MessageRecord
from intake.unit_of_work import UnitOfWork

WHEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(database_engine: Engine) -> Engine:
    """The database the tests run on (``NMSS_TEST_DATABASE``; ``make test`` runs both), migrated."""
    upgrade(database_engine)
    return database_engine


def email(to: str = "pharmacy@nhs.net") -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Message-ID"] = "<nmss-intake.test.1@nhs.net>"
    message.set_content("body")
    return message


def ledger_row(uid: str = "1") -> MessageRecord:
    return MessageRecord(
        source="intake", folder="INBOX", uid=uid, sha256=uid * 64, size=1, received_at=WHEN, taken_at=WHEN,
        reference=f"NMSS-TEST{uid:0>4}",
    )  # fmt: skip


def test_work_left_without_a_commit_is_rolled_back(engine: Engine) -> None:
    """Leaving the block without commit() keeps nothing: not the ledger row, the email nor the task."""
    with UnitOfWork(engine) as uow:
        row = uow.ledger.add(ledger_row())
        uow.outbox.enqueue("reply-1", "reply_incomplete", email(), now=WHEN, message_id=row.id)
        uow.tasks.open("held-1", "reply_held_back", "reply by hand", now=WHEN, message_id=row.id)

    with UnitOfWork(engine) as uow:
        assert uow.ledger.get(row.id or 0) is None
        assert not uow.outbox.has("reply-1")
        assert list(uow.tasks.list()) == []


def test_an_exception_inside_the_block_rolls_back_even_after_an_earlier_commit(engine: Engine) -> None:
    """What was committed stays; what came after it, before the failure, goes."""

    def command() -> None:
        with UnitOfWork(engine) as uow:
            uow.ledger.add(ledger_row("1"))
            uow.commit()
            uow.ledger.add(ledger_row("2"))
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        command()

    with UnitOfWork(engine) as uow:
        assert uow.ledger.by_reference("NMSS-TEST0001") is not None
        assert uow.ledger.by_reference("NMSS-TEST0002") is None


def test_committed_work_is_kept_together(engine: Engine) -> None:
    """The ledger row, the email and the task of one command commit at once."""
    with UnitOfWork(engine) as uow:
        row = uow.ledger.add(ledger_row())
        assert uow.outbox.enqueue("reply-1", "reply_incomplete", email(), now=WHEN, message_id=row.id)
        assert uow.tasks.open("held-1", "reply_held_back", "reply by hand", now=WHEN, reference=row.reference)
        uow.commit()

    with UnitOfWork(engine) as uow:
        assert uow.outbox.has("reply-1")
        assert uow.outbox.pending() == 1
        [task] = uow.tasks.list()
        assert (task.kind, task.reference, task.action) == ("reply_held_back", "NMSS-TEST0001", "reply by hand")


def test_an_email_is_put_in_the_outbox_once_per_key(engine: Engine) -> None:
    """A second enqueue under the same key, in the same unit of work or a later one, writes nothing."""
    with UnitOfWork(engine) as uow:
        assert uow.outbox.enqueue("digest-2026-11-30", "digest", email("team@nhs.net"), now=WHEN)
        assert not uow.outbox.enqueue("digest-2026-11-30", "digest", email("team@nhs.net"), now=WHEN)
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert not uow.outbox.enqueue("digest-2026-11-30", "digest", email("team@nhs.net"), now=WHEN)
        uow.commit()
        assert uow.outbox.pending() == 1


def test_a_task_is_made_once_per_event_and_resolved_with_a_note(engine: Engine) -> None:
    """The same event opens one task; resolving it records who, when and the note, and it leaves the open list."""
    with UnitOfWork(engine) as uow:
        assert uow.tasks.open("send-failed-7", "send_failed", "send it by hand", now=WHEN)
        assert not uow.tasks.open("send-failed-7", "send_failed", "send it by hand", now=WHEN)
        uow.commit()
    with UnitOfWork(engine) as uow:
        [task] = uow.tasks.list()
        uow.tasks.resolve(task, by="alice", note="phoned the pharmacy", at=WHEN + dt.timedelta(hours=1))
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert list(uow.tasks.list()) == []
        [done] = uow.tasks.list(include_resolved=True)
        assert (done.resolved_by, done.note, done.resolved_at) == (
            "alice",
            "phoned the pharmacy",
            WHEN + dt.timedelta(hours=1),
        )


def test_a_submissions_open_tasks_and_reply_kinds_are_what_the_core_is_told(engine: Engine) -> None:
    """Only open tasks count, and a kept task follows the newest message that needs it, with its words."""
    with UnitOfWork(engine) as uow:
        first, newer = uow.ledger.add(ledger_row("1")), uow.ledger.add(ledger_row("2"))
        assert first.id is not None
        assert newer.id is not None
        uow.outbox.enqueue("reply-1", "reply_unreadable", email(), now=WHEN, message_id=first.id)
        uow.tasks.open("ocr-1", "ocr_uncertain", "check the scan", now=WHEN, reference="NMSS-A", message_id=first.id)
        uow.tasks.open("held-1", "reply_held_back", "reply by hand", now=WHEN, reference="NMSS-A")
        uow.commit()
    with UnitOfWork(engine) as uow:
        [_, held] = uow.tasks.list()
        uow.tasks.resolve(held, by="alice", note="phoned", at=WHEN)
        uow.tasks.follow("NMSS-A", "ocr_uncertain", "check the scan again", message_id=newer.id)
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.tasks.open_kinds("NMSS-A") == {"ocr_uncertain"}
        assert uow.tasks.open_kinds("NMSS-B") == frozenset()
        assert uow.outbox.reply_kinds_for_submission(first.id) == {"unreadable"}
        assert uow.outbox.reply_kinds_for_submission(newer.id) == frozenset()
        [kept] = uow.tasks.list()
        assert (kept.key, kept.message_id, kept.action) == ("ocr-1", newer.id, "check the scan again")
