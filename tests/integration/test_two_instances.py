"""Two daemons, one PostgreSQL database, one mailbox: one polls, the other stands by and takes over when the
first is killed; both send the outbox, and no email goes twice.

Real processes throughout: the daemons are ``nmss-intake run`` forked by the warm launcher (``tests.launcher``),
the mailbox is Dovecot, the outgoing server aiosmtpd, the database the session's PostgreSQL cluster.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from intake.lease import APPLICATION_NAME
from intake.migrate import upgrade
from intake.store import AuditEvent, MessageRecord, OutboxRecord
from tests.conftest import _free_port
from tests.launcher import Ended, Launcher

from .dovecot import Dovecot
from .test_imap_faults import distinct_scenarios

KILLS = 10
MESSAGES = 300
TAKEOVER_SECONDS = 2.0
GUARD_SECONDS = 300.0
"""How long any one wait may last before the test fails: a guard against a hang, not a measure of speed."""


@dataclass
class Smtp:
    """What the outgoing server was handed: each email's Message-ID, once per delivery."""

    delivered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        with self.lock:
            self.delivered.append(str(message["Message-ID"]).strip())
        return "250 Message accepted for delivery"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.delivered)


@pytest.fixture
def smtp() -> Iterator[tuple[Smtp, int]]:
    handler = Smtp()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Instance:
    """One daemon: the folder it runs in (its log is there) and its process id."""

    folder: Path
    pid: int


@dataclass
class Cluster:
    """Two daemons on one configuration, started and killed through the launcher."""

    launcher: Launcher
    root: Path
    config: Path
    database_url: str
    engine: Engine
    started: int = 0

    def start(self) -> Instance:
        self.started += 1
        folder = self.root / f"instance-{self.started:02}"
        folder.mkdir()
        env = {"NMSS_STATE_DIR": str(folder / "state"), "PATH": "/usr/bin:/bin"}
        pid = self.launcher.spawn(folder, "--config", str(self.config), "run", env=env)
        return Instance(folder, pid)

    def end(self, instance: Instance, signum: int) -> Ended:
        return self.launcher.end(instance.folder, instance.pid, signum)

    def lease_connections(self) -> dict[int, bool]:
        """Each daemon with a lease connection open (by process id), and whether it holds the lease."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT a.application_name, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid"
                    " AND l.locktype = 'advisory' AND l.granted) FROM pg_stat_activity a"
                    " WHERE a.application_name LIKE :name"
                ),
                {"name": f"{APPLICATION_NAME} %"},
            ).all()
        return {int(name.rsplit(" ", 1)[1]): bool(holds) for name, holds in rows}

    def holder(self) -> int | None:
        return next((pid for pid, holds in self.lease_connections().items() if holds), None)

    def decided(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM message WHERE state <> 'received'")).scalar_one())


def wait_for(condition: Any, what: str, guard: float = GUARD_SECONDS, state: Any = None) -> None:
    """Until ``condition()`` is true, looking every 20 ms; fail naming ``what`` (and ``state()``) after ``guard``
    seconds."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {guard:.0f} s for {what}" + (f": {state()}" if state else ""))
        time.sleep(0.02)


@pytest.fixture
def cluster(dovecot: Dovecot, smtp: tuple[Smtp, int], postgres_engine: Engine, tmp_path: Path) -> Iterator[Cluster]:
    _handler, port = smtp
    upgrade(postgres_engine)
    url = postgres_engine.url.render_as_string(hide_password=False)
    imap = dovecot.mailbox_settings()["imap"]
    assert isinstance(imap, dict)
    config = tmp_path / "nmss-intake.toml"
    config.write_text(
        "\n".join(
            [
                f"database_url = {json.dumps(url)}",
                "poll_interval_seconds = 5",
                'log_format = "json"',
                "[service]",
                'team_addresses = ["nmss.team@nhs.net"]',
                "[digest]",
                "send_at = 00:00:00",  # due at once on a working day: both instances try to queue it
                "[lease]",
                f"takeover_seconds = {TAKEOVER_SECONDS}",
                "[mailbox]",
                'kind = "imap"',
                'name = "imap-test"',
                "[mailbox.imap]",
                *(f"{key} = {json.dumps(value)}" for key, value in imap.items()),
                "[outgoing]",
                'kind = "smtp"',
                "[outgoing.smtp]",
                'host = "127.0.0.1"',
                f"port = {port}",
                'security = "none"',
                'auth = "none"',
                "[outgoing.reply_limits]",
                "per_sender_per_day = 1000",
                "",
            ]
        )
    )
    with Launcher() as launcher:
        yield Cluster(launcher, tmp_path, config, url, postgres_engine)


def test_two_instances_one_polls_the_other_takes_over_when_it_is_killed_and_nothing_is_decided_or_sent_twice(
    cluster: Cluster, dovecot: Dovecot, smtp: tuple[Smtp, int]
) -> None:
    server, _port = smtp
    scenarios = distinct_scenarios(MESSAGES, first_seed=700)
    batches = [scenarios[n * MESSAGES // (KILLS + 1) : (n + 1) * MESSAGES // (KILLS + 1)] for n in range(KILLS + 1)]
    running = {instance.pid: instance for instance in (cluster.start(), cluster.start())}
    takeovers: list[float] = []
    try:
        wait_for(lambda: cluster.holder() in running and len(cluster.lease_connections()) == 2, "one holder of two")
        for batch in batches[:KILLS]:
            before = cluster.decided()
            dovecot.append(s.raw for s in batch)
            # Killed while it works: once it has decided some of this batch, with the rest still to take.
            wait_for(lambda b=before: cluster.decided() > b, "the holder to decide a message of the batch")
            victim = cluster.holder()
            assert victim in running, "the holder is one of ours"
            killed_at = time.monotonic()
            ended = cluster.end(running.pop(victim), signal.SIGKILL)
            assert ended.killed
            wait_for(lambda: cluster.holder() in running, "the standby to take the lease over")
            takeovers.append(time.monotonic() - killed_at)
            standby = cluster.start()
            running[standby.pid] = standby
            wait_for(lambda: len(cluster.lease_connections()) == 2, "the restarted daemon to stand by")
        dovecot.append(s.raw for s in batches[KILLS])

        def done() -> bool:
            with Session(cluster.engine) as session:
                ledger = session.exec(select(MessageRecord)).all()
                unsent = session.exec(select(OutboxRecord).where(OutboxRecord.state != "sent")).all()
            # "decided" is final too for a message moved by a daemon killed before it recorded the move: the
            # mailbox is then the record of where it went (counted below).
            decided = len(ledger) == MESSAGES and all(r.state in ("decided", "filed") for r in ledger)
            return decided and not unsent and "INBOX" not in dovecot.folders()

        def state() -> str:
            with cluster.engine.connect() as connection:
                ledger = connection.execute(text("SELECT state, count(*) FROM message GROUP BY state")).all()
                outbox = connection.execute(text("SELECT kind, state, count(*) FROM outbox GROUP BY 1, 2")).all()
            return f"ledger {ledger}, outbox {outbox}, folders {dovecot.folders()}"

        wait_for(done, "every message decided and filed and every email sent", state=state)
    finally:
        for instance in running.values():
            cluster.end(instance, signal.SIGTERM)

    print(
        f"\n{KILLS} kills, take-over after each (s, lease.takeover_seconds = {TAKEOVER_SECONDS}): "
        + ", ".join(f"{seconds:.2f}" for seconds in takeovers)
        + f"; max {max(takeovers):.2f}"
    )
    with Session(cluster.engine) as session:
        ledger = session.exec(select(MessageRecord)).all()
        decided = session.exec(select(AuditEvent).where(AuditEvent.event == "decided")).all()
        outbox = session.exec(select(OutboxRecord)).all()

    # Every message decided once: one ledger row and one decision each, filed once in the mailbox.
    assert Counter(r.sha256 for r in ledger) == Counter(hashlib.sha256(s.raw).hexdigest() for s in scenarios)
    assert sorted(Counter(e.message_id for e in decided).values()) == [1] * MESSAGES
    assert [r.outcome for r in ledger if r.outcome == "quarantined"] == [], "a kill is never the message's fault"
    folders = dovecot.folders()
    assert "INBOX" not in folders
    assert sum(folders.values()) == MESSAGES

    # Every email sent: each outbox row reached the server, under its own Message-ID.
    delivered = server.counts()
    assert set(delivered) == {o.header_message_id for o in outbox}
    # Sent once: two instances never send one row together (the rows are locked as they are sent). Only a kill
    # between the server's "250" and the commit that records it can make the next instance send that row again,
    # under the same Message-ID: at most one email per kill.
    again = {message_id: count for message_id, count in delivered.items() if count > 1}
    print(f"emails {len(outbox)}, delivered {sum(delivered.values())}, sent again after a kill: {len(again)}")
    assert sum(count - 1 for count in again.values()) <= KILLS
    # The digest is queued by whichever instance comes first, once (on a working day: none at a weekend).
    digests = [o for o in outbox if o.kind == "digest"]
    assert len(digests) <= 1
    assert [delivered[o.header_message_id or ""] for o in digests] in ([], [1])


def test_a_second_daemon_on_the_same_database_stands_by_and_run_once_is_refused_while_one_polls(
    cluster: Cluster,
) -> None:
    first, second = cluster.start(), cluster.start()
    try:
        wait_for(lambda: len(cluster.lease_connections()) == 2, "both daemons connected")
        holder = cluster.holder()
        assert holder in (first.pid, second.pid)
        once = cluster.launcher.run(
            cluster.root, "--config", str(cluster.config), "run", "--once", env={"PATH": "/usr/bin:/bin"}
        )
        assert once.exit_code == 1
        assert once.stderr.splitlines()[-1] == "Error: another poller is working on mailbox imap-test"
    finally:
        # The standby first, so that it cannot take the lease over from the holder stopping.
        standby, active = (second, first) if cluster.holder() == first.pid else (first, second)
        ended = [cluster.end(standby, signal.SIGTERM), cluster.end(active, signal.SIGTERM)]
    assert [e.exit_code for e in ended] == [0, 0], [e.stderr[-2000:] for e in ended]
    assert all('"daemon_stopped"' in e.stderr for e in ended)
    assert ['"lease_taken"' in e.stderr for e in ended] == [False, True], "one took the lease, the other waited"
