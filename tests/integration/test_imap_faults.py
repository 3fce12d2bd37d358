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
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from config.settings import Settings
from intake.bootstrap import App, bootstrap
from intake.cli import cli
from intake.mailboxes.imap import ImapMailbox
from intake.migrate import upgrade
from intake.pipeline import FOLDERS, take_new_mail
from intake.store import MessageRecord, OutboxRecord
from samples.scenarios import Scenario, all_scenarios
from tests.faults import FaultyPool

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

    def start(self, log_name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
        script = Path(sys.executable).with_name("nmss-intake")
        with (self.root / log_name).open("wb") as log:
            return subprocess.Popen(
                [str(script), "--config", str(self.config), "run"],
                cwd=self.root,
                env=env,
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
        time.sleep(0.25)
    pytest.fail(f"the daemon did not finish: folders {dovecot.folders()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()  # never leave a daemon behind to take the next test's mail
        process.wait(timeout=30)
        raise


def test_killed_twenty_times_with_sigkill_the_daemon_takes_every_message_and_sends_every_reply_exactly_once(
    dovecot: Dovecot, daemon: Daemon
) -> None:
    scenarios = distinct_scenarios(MESSAGES, first_seed=100)
    dovecot.append(s.raw for s in scenarios)
    rng = random.Random(20260310)

    mid_work = 0
    for kill in range(KILLS):
        process = daemon.start(f"run-{kill}.log")
        try:
            # The first message of a run waits on a cold start (imports, the parser's sandbox), and one that
            # was in flight at the last kill is first decided alone: a kill timed from the launch would hit
            # that message every time (which counts for nothing against it: see the e2e kill test), never
            # the backlog. A run takes about ten messages a second once warm: a short random wait keeps 22
            # kills inside the 200 messages on a fast machine too (a drained inbox leaves nothing to kill).
            daemon.wait_for(f"run-{kill}.log", b'"message_decided"')
            time.sleep(rng.uniform(0.0, 0.1))
            mid_work += "INBOX" in dovecot.folders()
        finally:
            process.kill()
            process.wait(timeout=30)
    assert mid_work >= 20, "the kills landed while there was mail to take"
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
