"""The daemon as it runs in production: a process that polls, and stops cleanly when told to."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from samples.scenarios import Scenario, accepted, deliver_to_maildir

from .conftest import Service, log_events, today
from .test_hostile_mail import LOG_LINES_PER_MESSAGE, attack_email, deliver


def test_the_daemon_takes_mail_as_it_arrives_and_stops_cleanly_on_sigterm(
    service: Service, scenarios: list[Scenario]
) -> None:
    env = service.environment()
    env |= {"NMSS_POLL_INTERVAL_SECONDS": "5", "NMSS_LOG_FORMAT": "json"}
    script = Path(sys.executable).with_name("nmss-intake")
    daemon = subprocess.Popen(
        [str(script), "run"], cwd=service.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1)
        deliver_to_maildir(service.mailbox, scenarios)
        deadline = time.monotonic() + 30
        while service.inbox() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert service.inbox() == [], "the daemon should have taken the mail within a poll or two"
        time.sleep(0.5)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)

    assert daemon.returncode == 0, stderr
    events = [json.loads(line)["event"] for line in stderr.splitlines()]
    assert events[0] == "daemon_started"
    assert events.count("message_decided") == len(scenarios)
    assert events[-2:] == ["stopping", "daemon_stopped"]


def ledger_states(service: Service) -> list[tuple[str | None, str]]:
    """(Message-ID, state) of every message the daemon has started on, read as another process would."""
    return [(row[0], row[1]) for row in service.rows("SELECT message_id, state FROM message ORDER BY id")]


def stopped(daemon: subprocess.Popen[str]) -> str:
    """The daemon's log once it has exited; a daemon that ignores SIGTERM is killed, and the test fails."""
    try:
        return daemon.communicate(timeout=120)[1]  # a guard against a hang, not a measure of speed
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.communicate()
    raise AssertionError("the daemon ignored SIGTERM")


def test_sigterm_stops_the_daemon_while_a_worker_is_stuck_on_the_hostile_winmail_dat(service: Service) -> None:
    env = service.environment()
    # The attack runs into the time limit however busy the machine: 10 s is far longer than it takes to
    # see the attack being read and send the signal.
    env |= {"NMSS_POLL_INTERVAL_SECONDS": "5", "NMSS_LOG_FORMAT": "json", "NMSS_LIMITS__PARSE_TIMEOUT_SECONDS": "10"}
    behind = [(f"{n:03d}.referral", accepted(today(), seed=20 + n).raw) for n in (1, 2)]
    deliver(service, ("000.attack", attack_email()), *behind)
    script = Path(sys.executable).with_name("nmss-intake")
    daemon = subprocess.Popen(
        [str(script), "run"], cwd=service.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measure of speed
        while ledger_states(service) == [] and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.1)
        assert ledger_states(service)[:1] == [(None, "received")], "the daemon should be reading the attack"
    finally:
        daemon.send_signal(signal.SIGTERM)
        stderr = stopped(daemon)

    assert daemon.returncode == 0, stderr
    events = [e["event"] for e in log_events(stderr)]
    # Told to stop while reading the attack, it finished that message, took no other, and stopped.
    assert events.index("stopping") < events.index("message_decided")
    assert events.count("message_decided") == 1
    assert events[-1] == "daemon_stopped"
    assert [e["outcome"] for e in log_events(stderr) if e["event"] == "message_decided"] == ["review"]
    assert len(service.inbox()) == len(behind), "the referrals behind it wait for the next start"
    assert len(stderr.splitlines()) <= 3 * LOG_LINES_PER_MESSAGE
