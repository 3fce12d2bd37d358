"""The daemon watched as the container and Prometheus watch it: a real process, scraped over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service, patient_values

WAIT_SECONDS = 120
"""A guard against a hang, never a measure of speed: each wait ends as soon as its condition holds."""


class Daemon:
    """``nmss-intake run`` in a process of its own, with monitoring on a free port, and its log as it comes."""

    def __init__(self, service: Service, **env: str) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
        environment |= {
            "NMSS_POLL_INTERVAL_SECONDS": "5",
            "NMSS_LOG_FORMAT": "json",
            "NMSS_MONITORING__ENABLED": "true",
            "NMSS_MONITORING__PORT": "0",
        } | {f"NMSS_{k}": v for k, v in env.items()}
        script = Path(sys.executable).with_name("nmss-intake")
        self.process = subprocess.Popen(
            [str(script), "run"],
            cwd=service.root,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read_log, daemon=True).start()
        started = self.wait_for_event("monitoring_started")
        self.base = f"http://127.0.0.1:{started['port']}"

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_for_event(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.log)
                continue
            if event["event"] == name:
                return event
        raise AssertionError(f"no {name} in the log:\n{''.join(self.log)}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, text = self.get("/metrics")
        assert status == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the daemon ignored SIGTERM") from None


@pytest.fixture
def daemon_of(service: Service) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(**env: str) -> Daemon:
        started.append(Daemon(service, **env))
        return started[-1]

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def value(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def total(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in metrics.items() if n == name)


def test_health_readiness_and_metrics_are_served_and_move_when_messages_are_taken(
    service: Service, scenarios: list[Scenario], daemon_of: Callable[..., Daemon]
) -> None:
    daemon = daemon_of()

    assert daemon.get("/healthz") == (200, '{"alive": true}')
    wait_until(lambda: daemon.get("/readyz")[0] == 200, "the first poll should make the daemon ready")
    ready = json.loads(daemon.get("/readyz")[1])
    assert ready == {"ready": True, "checks": {"database": "ok", "mailbox:intake": "ok"}}
    before = daemon.metrics()
    assert value(before, "nmss_database_up") == 1
    assert value(before, "nmss_poller_active", mailbox="intake") == 1
    assert total(before, "nmss_messages_taken_total") == 0
    assert total(before, "nmss_messages") == 0
    assert value(before, "nmss_last_good_poll_age_seconds", mailbox="intake") >= 0

    deliver_to_maildir(service.mailbox, scenarios)
    wait_until(lambda: not service.inbox(), "the daemon should take the mail")
    wait_until(lambda: total(daemon.metrics(), "nmss_messages_taken_total") == len(scenarios), "counted as taken")
    wait_until(lambda: value(daemon.metrics(), "nmss_outbox_backlog") == 0, "the replies should be written")
    after = daemon.metrics()

    outcomes = {s.expected_outcome for s in scenarios}
    for outcome in outcomes:
        expected = sum(s.expected_outcome == outcome for s in scenarios)
        assert value(after, "nmss_messages_taken_total", mailbox="intake", outcome=outcome) == expected, outcome
        assert value(after, "nmss_messages", outcome=outcome) == expected, outcome
    assert value(after, "nmss_parse_seconds_count") == len(scenarios)
    assert value(after, "nmss_parse_seconds_sum") > 0
    assert value(after, "nmss_outbox_failed") == 0
    assert value(after, "nmss_outbox_send_failures_total") == 0
    _, text = daemon.get("/metrics")
    assert not {v for v in patient_values(scenarios) if v in text}

    assert daemon.get("/nothing-here")[0] == 404
    port = daemon.base.rpartition(":")[2]
    probed = service.invoke("probe", "--ready", "--port", port)
    assert (probed.exit_code, probed.stdout) == (0, "/readyz: database ok, mailbox:intake ok\n")
    assert daemon.stop() == 0
    gone = service.invoke("probe", "--port", port)
    assert gone.exit_code == 1
    assert gone.output.startswith(f"Error: nothing answers on http://127.0.0.1:{port}/healthz")
    assert len(gone.output.splitlines()) == 1


def test_readiness_fails_while_the_mailbox_cannot_be_read_and_liveness_holds(
    service: Service, daemon_of: Callable[..., Daemon]
) -> None:
    not_a_folder = service.root / "mailbox-file"
    not_a_folder.write_text("a file where the Maildir should be\n")

    daemon = daemon_of(MAILBOX__PATH=str(not_a_folder), HEALTH__ALERT_AFTER_FAILURES="1")
    daemon.wait_for_event("poll_failed")

    status, body = daemon.get("/readyz")
    assert status == 503
    checks = json.loads(body)["checks"]
    assert checks["database"] == "ok"
    assert checks["mailbox:intake"].startswith("1 failed polls in a row")
    assert daemon.get("/healthz")[0] == 200
    assert value(daemon.metrics(), "nmss_mailbox_consecutive_failures", mailbox="intake") >= 1
    assert daemon.stop() == 0
