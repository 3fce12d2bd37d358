"""The IMAP mailbox against a real Dovecot: read without marking, file by outcome, TLS, IDLE, reconnection."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from config.settings import ImapSettings, Settings
from intake.bootstrap import App, bootstrap
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.mailbox import IncomingMail, Mailbox, MailRef
from intake.mailboxes.imap import ImapMailbox
from intake.migrate import upgrade
from intake.pipeline import FOLDERS, send_outbox, take_new_mail
from intake.store import MessageRecord, OutboxRecord, QuarantineRecord
from microsoft.entra import TokenRefused
from notifier.senders.outbox import FileOutbox
from samples.scenarios import Scenario, all_scenarios, incomplete

from .dovecot import Dovecot

TODAY = dt.date(2026, 3, 10)


def mailbox_for(dovecot: Dovecot, **overrides: object) -> ImapMailbox:
    settings = ImapSettings.model_validate(dovecot.mailbox_settings(**overrides)["imap"])
    return ImapMailbox(settings, name="imap-test")


@pytest.fixture
def app(dovecot: Dovecot, tmp_path: Path, database_url: str) -> Iterator[App]:
    settings = Settings(
        database_url=database_url,
        state_dir=tmp_path,
        mailbox=dovecot.mailbox_settings(),  # type: ignore[arg-type]
        outgoing={"outbox_path": tmp_path / "outbox"},  # type: ignore[arg-type]
    )
    app = bootstrap(settings)
    upgrade(app.engine)
    yield app
    if isinstance(app.mailbox, ImapMailbox):
        app.mailbox.close()


@pytest.fixture
def scenarios() -> list[Scenario]:
    return all_scenarios(TODAY, seed=11)


def test_new_mail_is_read_whole_and_left_unread(dovecot: Dovecot) -> None:
    raws = [incomplete(TODAY, seed).raw for seed in range(3)]
    dovecot.append(raws)
    mailbox = mailbox_for(dovecot)

    fetched = list(mailbox.fetch_new())

    assert [m.raw for m in fetched] == raws
    assert [m.ref.folder for m in fetched] == ["INBOX"] * 3
    assert len({m.ref.uid for m in fetched}) == 3
    assert all(m.ref.uidvalidity > 0 for m in fetched)
    assert all(b"\\Seen" not in flags for flags in dovecot.flags("INBOX"))


def test_filing_moves_the_message_to_a_folder_created_for_it_and_filing_again_is_harmless(dovecot: Dovecot) -> None:
    dovecot.append([incomplete(TODAY).raw])
    mailbox = mailbox_for(dovecot)
    (message,) = mailbox.fetch_new()

    mailbox.file(message.ref, "Incomplete")
    mailbox.file(message.ref, "Incomplete")

    assert dovecot.folders() == {"Incomplete": 1}
    assert dovecot.messages("Incomplete") == [message.raw]


def test_each_sample_is_decided_once_and_filed_in_the_folder_for_its_outcome(
    dovecot: Dovecot, app: App, scenarios: list[Scenario]
) -> None:
    dovecot.append(s.raw for s in scenarios)

    taken = take_new_mail(app.mailbox, app.services)
    again = take_new_mail(app.mailbox, app.services)
    send_outbox(app.services)

    assert sorted(t.outcome for t in taken) == sorted(s.expected_outcome for s in scenarios)
    assert again == []
    expected: dict[str, int] = {}
    for scenario in scenarios:
        folder = FOLDERS[scenario.expected_outcome]
        expected[folder] = expected.get(folder, 0) + 1
    assert dovecot.folders() == expected
    assert isinstance(app.sender, FileOutbox)
    assert len(app.sender.sent()) == sum(1 for t in taken if t.reply_key)


def test_the_same_email_twice_is_one_submission_filed_once_as_a_duplicate(dovecot: Dovecot, app: App) -> None:
    raw = incomplete(TODAY).raw
    dovecot.append([raw, raw])

    taken = take_new_mail(app.mailbox, app.services)

    assert [t.outcome for t in taken] == ["incomplete", "duplicate"]
    assert dovecot.folders() == {"Incomplete": 1, "Duplicate": 1}


class DiesOnFile:
    """Stands for a crash after the decision was committed and before the message was moved."""

    def __init__(self, inner: Mailbox) -> None:
        self.inner = inner
        self.name = inner.name

    def fetch_new(self) -> Iterator[IncomingMail]:
        return self.inner.fetch_new()

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:
        raise MailboxUnavailable("crashed before the move")


def test_a_message_decided_but_not_moved_when_uidvalidity_changes_is_not_decided_or_answered_again(
    dovecot: Dovecot, app: App
) -> None:
    dovecot.append([incomplete(TODAY).raw])
    [first] = take_new_mail(DiesOnFile(app.mailbox), app.services)
    assert not first.filed
    dovecot.uidvalidity_reset()
    taken = take_new_mail(app.mailbox, app.services)
    send_outbox(app.services)

    assert [t.outcome for t in taken] == ["duplicate"]
    assert dovecot.folders() == {"Duplicate": 1}
    with Session(app.engine) as session:
        assert len(session.exec(select(OutboxRecord)).all()) == 1
        rows = session.exec(select(MessageRecord).order_by(MessageRecord.id)).all()  # type: ignore[arg-type]
    assert [(r.outcome, r.duplicate_of) for r in rows] == [("incomplete", None), ("duplicate", rows[0].id)]
    assert rows[1].uidvalidity != rows[0].uidvalidity, "the mailbox saw the new UIDVALIDITY"


def test_a_message_over_the_size_limit_is_quarantined_unread_and_the_one_behind_it_is_decided(
    dovecot: Dovecot, tmp_path: Path, database_url: str
) -> None:
    small = incomplete(TODAY, 1).raw
    big = incomplete(TODAY, 2).raw + b"\r\n" + b"epilogue padding\r\n" * 20_000
    dovecot.append([big, small])
    limit = max(len(small), len(incomplete(TODAY, 2).raw)) + 1000
    settings = Settings(
        database_url=database_url,
        state_dir=tmp_path,
        mailbox=dovecot.mailbox_settings(),  # type: ignore[arg-type]
        outgoing={"outbox_path": tmp_path / "outbox"},  # type: ignore[arg-type]
        limits={"max_message_bytes": limit},  # type: ignore[arg-type]
    )
    app = bootstrap(settings)
    upgrade(app.engine)
    try:
        fetched = list(app.mailbox.fetch_new())
        taken = take_new_mail(app.mailbox, app.services)
    finally:
        assert isinstance(app.mailbox, ImapMailbox)
        app.mailbox.close()

    assert [(m.raw, m.oversize) for m in fetched] == [(b"", len(big)), (small, None)], "measured, not read"
    assert [t.outcome for t in taken] == ["quarantined", "incomplete"]
    assert dovecot.messages("Quarantine") == [big], "the whole message stays on the server for the team"
    with Session(app.engine) as session:
        [(ledger, kept)] = session.exec(select(MessageRecord, QuarantineRecord).join(QuarantineRecord)).all()
    assert (ledger.size, ledger.error, kept.raw) == (len(big), "too_large", b"")


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_connections_check_the_servers_certificate(dovecot: Dovecot, security: str) -> None:
    dovecot.append([incomplete(TODAY).raw])
    port = dovecot.tls_port if security == "tls" else dovecot.port

    trusted = mailbox_for(dovecot, security=security, port=port)
    untrusted = mailbox_for(dovecot, security=security, port=port, ca_file=None)

    assert len(list(trusted.fetch_new())) == 1
    with pytest.raises(MailboxUnavailable):
        list(untrusted.fetch_new())


def test_a_refused_password_is_an_authentication_error_and_the_next_try_backs_off(dovecot: Dovecot) -> None:
    mailbox = mailbox_for(dovecot, password="wrong")

    with pytest.raises(MailboxAuthError):
        list(mailbox.fetch_new())
    with pytest.raises(MailboxUnavailable, match="backing off"):
        list(mailbox.fetch_new())


def test_a_token_entra_id_refuses_is_an_authentication_error_and_the_next_try_backs_off(dovecot: Dovecot) -> None:
    def refused() -> str:
        raise TokenRefused("Microsoft Entra ID refused a token: invalid_client", code="invalid_client")

    settings = ImapSettings.model_validate(dovecot.mailbox_settings(auth="xoauth2")["imap"])
    mailbox = ImapMailbox(settings, name="imap-test", token=refused)

    with pytest.raises(MailboxAuthError, match="invalid_client"):
        list(mailbox.fetch_new())
    with pytest.raises(MailboxUnavailable, match="backing off"):
        list(mailbox.fetch_new())


def test_after_dovecot_restarts_the_next_poll_reconnects_and_carries_on(dovecot: Dovecot, app: App) -> None:
    dovecot.append([incomplete(TODAY, 1).raw])
    first = take_new_mail(app.mailbox, app.services)

    dovecot.restart()
    dovecot.append([incomplete(TODAY, 2).raw])
    second = take_new_mail(app.mailbox, app.services)

    assert [t.outcome for t in first + second] == ["incomplete", "incomplete"]
    assert dovecot.folders() == {"Incomplete": 2}


def test_a_poll_on_the_kept_connection_lists_mail_that_arrived_since_the_last_poll(dovecot: Dovecot) -> None:
    # Dovecot answers SEARCH from what it has told the selected connection so far: without asking for news
    # first, a poll woken by IDLE found nothing and the message waited for the next poll (issue: 28 s latency).
    mailbox = mailbox_for(dovecot)
    assert list(mailbox.fetch_new()) == []  # connects, selects the empty folder and keeps the connection
    raw = incomplete(TODAY, 2).raw
    dovecot.append([raw])

    assert [m.raw for m in mailbox.fetch_new()] == [raw]
    mailbox.close()


def test_idle_wakes_the_poller_when_mail_arrives_and_again_after_a_server_restart(dovecot: Dovecot) -> None:
    mailbox = mailbox_for(dovecot)
    woken = threading.Semaphore(0)
    stop = threading.Event()
    watcher = threading.Thread(target=mailbox.watch, args=(woken.release, stop), daemon=True)
    watcher.start()
    try:
        dovecot.append([incomplete(TODAY, 1).raw])
        assert woken.acquire(timeout=30), "no wake-up after new mail"
        while woken.acquire(blocking=False):
            pass
        dovecot.restart()
        assert woken.acquire(timeout=30), "no wake-up after the watcher reconnected"
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive(), "the watcher stops when told to"


def test_without_idle_or_move_the_watcher_leaves_it_to_polling_and_filing_copies_then_expunges() -> None:
    plain = Dovecot(idle=False)
    try:
        plain.start()
        plain.append([incomplete(TODAY).raw])
        mailbox = mailbox_for(plain)

        mailbox.watch(lambda: None, threading.Event())  # returns at once: nothing to wait on
        (message,) = mailbox.fetch_new()
        mailbox.file(message.ref, "Incomplete")

        assert plain.folders() == {"Incomplete": 1}
    finally:
        plain.destroy()
