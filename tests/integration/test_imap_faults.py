"""The real daemon on a real Dovecot, killed with SIGKILL at random moments, and the server restarted under it."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from imapclient import IMAPClient
from sqlmodel import Session, select

from config.settings import ImapSettings, Settings
from intake.bootstrap import App, bootstrap
from intake.cli import cli
from intake.errors import MailboxUnavailable
from intake.mailboxes.imap import ImapMailbox
from intake.migrate import upgrade
from intake.pipeline import FOLDERS, send_outbox, take_new_mail
from intake.store import MessageRecord, OutboxRecord
from samples.scenarios import Scenario, all_scenarios
from tests.faults import FaultyPool
from tests.launcher import Launcher

from .dovecot import Dovecot

KILLS = 22
MESSAGES = 200


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/London")).date()


@dataclass
class Daemon:
    """``nmss-intake run`` in a folder of its own, configured for the test Dovecot."""

    root: Path
    config: Path

    def environment(self) -> dict[str, str]:
        """This process's environment without any NMSS_ setting: the configuration file says everything."""
        return {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}

    def start(self, log_name: str) -> subprocess.Popen[bytes]:
        """``nmss-intake run`` from a cold start, as a person or systemd starts it."""
        script = Path(sys.executable).with_name("nmss-intake")
        with (self.root / log_name).open("wb") as log:
            return subprocess.Popen(
                [str(script), "--config", str(self.config), "run"],
                cwd=self.root,
                env=self.environment(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_started(self, log_name: str) -> None:
        self.wait_for(log_name, b"daemon_started")

    def wait_for(self, log_name: str, text: bytes) -> None:
        deadline = time.monotonic() + 30
        while text not in (self.root / log_name).read_bytes():
            if time.monotonic() > deadline:
                pytest.fail(f"the daemon did not start: {(self.root / log_name).read_text()[-2000:]}")
            time.sleep(0.02)

    def invoke(self, *args: str) -> str:
        result = CliRunner().invoke(cli, ["--config", str(self.config), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def settings(self) -> Settings:
        from config.settings import load_settings

        return load_settings(self.config)

    def outbox(self) -> list[Path]:
        """The replies written; not a half-written ``.tmp-`` file a kill left, which the outbox never reads."""
        return sorted(p for p in (self.root / "outbox").glob("*.eml") if not p.name.startswith(".tmp-"))


def settings_for(server: Dovecot, folder: Path) -> Settings:
    """The service's settings for ``server``, with its database and outbox in ``folder``."""
    return Settings(
        database_url=f"sqlite:///{folder}/nmss.db",
        state_dir=folder,
        mailbox=server.mailbox_settings(),  # type: ignore[arg-type]
        outgoing={"outbox_path": folder / "outbox"},  # type: ignore[arg-type]
    )


@pytest.fixture
def daemon(dovecot: Dovecot, tmp_path: Path, database_url: str) -> Daemon:
    imap = dovecot.mailbox_settings()["imap"]
    assert isinstance(imap, dict)
    lines = [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}" for key, value in imap.items()]
    config = tmp_path / "nmss-intake.toml"
    config.write_text(
        f'database_url = "{database_url}"\n'
        f'state_dir = "{tmp_path}/state"\n'
        "poll_interval_seconds = 5\n"
        'log_format = "json"\n\n'
        '[mailbox]\nkind = "imap"\nname = "imap-test"\n\n'
        f'[outgoing]\noutbox_path = "{tmp_path}/outbox"\n\n'
        "[mailbox.imap]\n" + "\n".join(lines).replace("'", '"') + "\nidle_renew_seconds = 60\n"
    )
    service = Daemon(tmp_path, config)
    service.invoke("db", "upgrade")
    return service


def distinct_scenarios(count: int, first_seed: int) -> list[Scenario]:
    """``count`` sample emails of every kind, with different seeds so that no two have the same bytes."""
    found: list[Scenario] = []
    seed = first_seed
    while len(found) < count:
        found.extend(all_scenarios(today(), seed=seed))
        seed += 1
    assert len({s.raw for s in found}) == len(found)
    return found[:count]


def wait_until_done(dovecot: Dovecot, daemon: Daemon, expected: int, deadline: float) -> None:
    """Until INBOX is empty, every message is in the ledger and every reply is sent."""
    while time.monotonic() < deadline:
        if "INBOX" not in dovecot.folders():
            with Session(bootstrap(daemon.settings()).engine) as session:
                rows = session.exec(select(MessageRecord)).all()
                pending = session.exec(select(OutboxRecord).where(OutboxRecord.state != "sent")).all()
            if len(rows) >= expected and not pending:
                return
        time.sleep(1.0)  # each look is an IMAP session of its own, which counts against the server's limit
    pytest.fail(f"the daemon did not finish: folders {dovecot.folders()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()  # never leave a daemon behind to take the next test's mail
        process.wait(timeout=30)
        raise


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    """A warm ``nmss-intake``: each daemon below starts from a fork of it, past the interpreter and the imports
    (some seconds on a busy machine), and then starts everything else of its own, as a cold start does."""
    with Launcher() as started:
        yield started


def test_killed_twenty_times_with_sigkill_the_daemon_takes_every_message_and_sends_every_reply_exactly_once(
    dovecot: Dovecot, daemon: Daemon, launcher: Launcher
) -> None:
    scenarios = distinct_scenarios(MESSAGES, first_seed=100)
    dovecot.append(s.raw for s in scenarios)
    rng = random.Random(20260310)

    mid_work = 0
    for kill in range(KILLS):
        # The first message of a run waits on the run's start (its parse workers' fork server, and one that
        # was in flight at the last kill is first decided alone): a kill timed from the launch would hit
        # that message every time (which counts for nothing against it: see the e2e kill test), never
        # the backlog. So each kill comes a short random time after the run's first decision. A run takes
        # about ten messages a second once warm: the short wait keeps 22 kills inside the 200 messages on a
        # fast machine too (a drained inbox leaves nothing to kill).
        ended = launcher.run(
            daemon.root,
            "--config",
            str(daemon.config),
            "run",
            env=daemon.environment(),
            printed='"message_decided"',
            kill_after=rng.uniform(0.0, 0.1),
        )
        (daemon.root / f"run-{kill}.log").write_text(ended.stderr)
        assert ended.printed is not None, f"run {kill} decided nothing: {ended.stderr[-2000:]}"
        assert ended.killed, f"run {kill} ended by itself: {ended.stderr[-2000:]}"
        mid_work += "INBOX" in dovecot.folders()
    assert mid_work >= 20, "the kills landed while there was mail left to take"
    final = daemon.start("run-final.log")
    try:
        daemon.wait_started("run-final.log")
        wait_until_done(dovecot, daemon, MESSAGES, time.monotonic() + 120)
    finally:
        assert stop(final) == 0

    expected = {hashlib.sha256(s.raw).hexdigest(): s.expected_outcome for s in scenarios}
    with Session(bootstrap(daemon.settings()).engine) as session:
        rows = session.exec(select(MessageRecord)).all()
        outbox = session.exec(select(OutboxRecord)).all()
    by_hash = Counter(r.sha256 for r in rows)
    assert set(by_hash) == set(expected), "every message is in the ledger"
    assert set(by_hash.values()) == {1}, "and only once"
    assert {r.state for r in rows} <= {"filed", "decided", "quarantined"}
    quarantined = [r for r in rows if r.outcome == "quarantined"]
    assert quarantined == [], "a kill is not the message's fault: no message is given up"
    assert [r.solo_crashes for r in rows if r.solo_crashes] == [], "and none is held responsible for one"
    assert all(r.outcome == expected[r.sha256] for r in rows if r.outcome != "quarantined")

    assert [o.state for o in outbox] == ["sent"] * len(outbox)
    assert len({o.message_id for o in outbox}) == len(outbox), "one reply per message at most"
    assert len(outbox) == sum(1 for r in rows if r.outcome in ("incomplete", "misrouted"))
    assert len(daemon.outbox()) == len(outbox), "one file per reply, however often it was written"

    folders = dovecot.folders()
    assert sum(folders.values()) == MESSAGES
    assert folders == dict(Counter(r.filed_in for r in rows))


def test_when_dovecot_restarts_mid_run_the_daemon_reconnects_and_carries_on(dovecot: Dovecot, daemon: Daemon) -> None:
    scenarios = distinct_scenarios(60, first_seed=400)
    process = daemon.start("run.log")
    try:
        daemon.wait_started("run.log")
        dovecot.append(s.raw for s in scenarios[:30])
        deadline = time.monotonic() + 60
        while not any(name != "INBOX" for name in dovecot.folders()) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Whether the restart cuts a MOVE in two (a copy made, the original left) depends on the machine's load:
        # the test below cuts one on purpose. Either way the mailbox shows each message once.
        dovecot.restart()
        dovecot.append(s.raw for s in scenarios[30:])
        wait_until_done(dovecot, daemon, len(scenarios), time.monotonic() + 90)
    finally:
        assert stop(process) == 0

    folders = dovecot.folders()
    assert sum(folders.values()) == len(scenarios)
    assert "Quarantine" not in folders
    log = (daemon.root / "run.log").read_text()
    assert '"poll_failed"' in log or '"imap_idle_failed"' in log, "the restart was noticed"


class CutOffMoves:
    """Makes IMAP clients for the mailbox whose first filing is cut off once the server has made the copy, as when
    the server restarts, or the connection drops, in the middle of a MOVE (or between COPY and EXPUNGE, on a
    server without MOVE): the message is then in both folders, and the service hears only that the link broke."""

    def __init__(self) -> None:
        self.cut = False

    def __call__(self, *args: Any, **kwargs: Any) -> IMAPClient:
        outer = self

        class Client(IMAPClient):  # type: ignore[misc]  # imapclient has no type hints
            def move(self, messages: list[int], folder: str) -> Any:
                if outer.cut:
                    return super().move(messages, folder)
                return outer.cut_off(self, messages, folder)

            def copy(self, messages: list[int], folder: str) -> Any:
                if outer.cut:
                    return super().copy(messages, folder)
                return outer.cut_off(self, messages, folder)

        return Client(*args, **kwargs)

    def cut_off(self, client: IMAPClient, messages: list[int], folder: str) -> None:
        self.cut = True
        IMAPClient.copy(client, messages, folder)
        client.shutdown()
        raise ConnectionResetError("the connection dropped in the middle of the move")


@pytest.fixture(params=["move", "copy"])
def server(request: pytest.FixtureRequest) -> Iterator[Dovecot]:
    """Dovecot with MOVE, and one without (the service then files with COPY, \\Deleted and EXPUNGE)."""
    if request.param == "move":
        yield request.getfixturevalue("dovecot")
        return
    plain = Dovecot(idle=False)
    try:
        plain.start()
        yield plain
    finally:
        plain.destroy()


def test_a_move_cut_off_after_the_copy_is_finished_on_the_next_poll_without_a_second_copy_or_decision(
    server: Dovecot, tmp_path: Path
) -> None:
    scenarios = [s for s in distinct_scenarios(7, first_seed=600) if s.expected_outcome in ("accepted", "incomplete")]
    server.append(s.raw for s in scenarios)
    app = bootstrap(settings_for(server, tmp_path))
    upgrade(app.engine)
    settings = ImapSettings.model_validate(server.mailbox_settings()["imap"])
    mailbox = ImapMailbox(settings, name="imap-test", client_factory=CutOffMoves())
    try:
        first = take_new_mail(mailbox, app.services)
        assert [t.filed for t in first] == [False] + [True] * (len(scenarios) - 1)
        assert server.folders()["INBOX"] == 1, "the cut-off move left the message where it was"
        assert sum(server.folders().values()) == len(scenarios) + 1, "and made its copy"

        again = take_new_mail(mailbox, app.services)
        send_outbox(app.services)
    finally:
        mailbox.close()

    assert again == [], "nothing is decided twice"
    expected = Counter(FOLDERS[s.expected_outcome] for s in scenarios)
    assert server.folders() == dict(expected), "each message once, in its folder"
    with Session(app.engine) as session:
        rows = session.exec(select(MessageRecord)).all()
        outbox = session.exec(select(OutboxRecord)).all()
    assert sorted(r.state for r in rows) == ["filed"] * len(scenarios)
    assert len(outbox) == sum(1 for s in scenarios if s.expected_outcome == "incomplete"), "one reply each"


def test_a_message_filed_again_stays_when_the_folder_holds_the_same_bytes_delivered_at_another_time(
    dovecot: Dovecot,
) -> None:
    raw = distinct_scenarios(1, first_seed=700)[0].raw
    with dovecot.client() as client:
        client.create_folder("Incomplete")
        client.append("Incomplete", raw, msg_time=dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))
    dovecot.append([raw])
    settings = ImapSettings.model_validate(dovecot.mailbox_settings()["imap"])
    mailbox = ImapMailbox(settings, name="imap-test")
    try:
        (incoming,) = mailbox.fetch_new()
        mailbox.file(incoming.ref, "Incomplete", again=True)
    finally:
        mailbox.close()

    assert dovecot.folders() == {"Incomplete": 2}, "an earlier delivery is no copy of this one"


@pytest.fixture
def app(dovecot: Dovecot, daemon: Daemon) -> Iterator[App]:
    app = bootstrap(daemon.settings())
    upgrade(app.engine)
    yield app
    assert isinstance(app.mailbox, ImapMailbox)
    app.mailbox.close()


def test_a_message_that_crashes_the_pipeline_is_quarantined_with_its_bytes_the_rest_go_on_and_replay_takes_it(
    dovecot: Dovecot, daemon: Daemon, app: App
) -> None:
    scenarios = [s for s in distinct_scenarios(7, first_seed=500) if s.expected_outcome in ("accepted", "incomplete")]
    dovecot.append(s.raw for s in scenarios)
    hostile = scenarios[0].raw
    pool = FaultyPool.on_messages(hostile, error=lambda: RuntimeError("something in a hostile file"))

    taken = take_new_mail(app.mailbox, replace(app.services, pool=pool))

    assert [t.outcome for t in taken] == ["quarantined"] + [s.expected_outcome for s in scenarios[1:]]
    assert dovecot.messages(FOLDERS["quarantined"]) == [hostile]

    output = daemon.invoke("replay", str(taken[0].ledger_id))

    assert f"Replayed message {taken[0].ledger_id}: {scenarios[0].expected_outcome}" in output
    with Session(app.engine) as session:
        row = session.get(MessageRecord, taken[0].ledger_id)
    assert row is not None
    assert row.outcome == scenarios[0].expected_outcome


def test_a_message_over_the_size_limit_filed_again_is_moved_unread_even_if_a_copy_may_be_there(
    dovecot: Dovecot,
) -> None:
    raw = distinct_scenarios(1, first_seed=800)[0].raw
    dovecot.append([raw])
    settings = ImapSettings.model_validate(dovecot.mailbox_settings()["imap"])
    mailbox = ImapMailbox(settings, name="imap-test", max_message_bytes=len(raw) - 1, client_factory=CutOffMoves())
    try:
        (incoming,) = mailbox.fetch_new()
        assert incoming.oversize is not None
        with pytest.raises(MailboxUnavailable):
            mailbox.file(incoming.ref, "Quarantine")
        mailbox.file(incoming.ref, "Quarantine", again=True)
    finally:
        mailbox.close()

    # Telling the copy apart would mean reading it: the team gets two copies to look at, never none.
    assert dovecot.folders() == {"Quarantine": 2}
