"""The daemon as it runs in production: a process that polls, and stops cleanly when told to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service


def test_the_daemon_takes_mail_as_it_arrives_and_stops_cleanly_on_sigterm(
    service: Service, scenarios: list[Scenario]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
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
