"""Watching the service: ``/healthz`` (the process answers), ``/readyz`` (the database and the mailbox can be
reached) and Prometheus ``/metrics``, served by the daemon itself on ``[monitoring] host:port``.

Readiness reads the mailbox's health from ``mailbox_state``, which every poll records, rather than logging in
to the mailbox on every probe. Figures that live in the database (the ledger's outcomes, the outbox, the last
good poll) are read from it at each scrape, so every instance reports the same; what only this process knows
(messages it took, how long their reading took, sends that failed) are its own counters. Nothing served here
carries patient data: names of mailboxes, outcome codes, counts and seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from intake.errors import MonitoringUnavailable
from intake.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from intake.outbox import SendReport

log = structlog.get_logger("intake.monitoring")

Clock = Callable[[], dt.datetime]

PARSE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: most messages are read in well under a second; the limits are 30 s a document, 120 s a message."""


# -- readiness ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    """Whether the service can do its work, and each check's result in a word (``ok`` or why not)."""

    ready: bool
    checks: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": self.checks}


def readiness(
    engine: Engine,
    mailboxes: Sequence[str],
    *,
    now: dt.datetime,
    stale_after_seconds: float,
    alert_after_failures: int,
) -> Readiness:
    """Whether the database answers and each mailbox was read well lately, as the daemon recorded it.

    A mailbox is ready once a poll has succeeded within ``stale_after_seconds`` and fewer than
    ``alert_after_failures`` polls in a row have failed since (the point where the team is alerted).
    """
    checks: dict[str, str] = {}
    try:
        states = mailbox_health(engine, mailboxes)
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
        return Readiness(False, checks)
    checks["database"] = "ok"
    for name, state in states.items():
        if state.consecutive_failures >= alert_after_failures:
            checks[f"mailbox:{name}"] = f"{state.consecutive_failures} failed polls in a row ({state.last_error})"
        elif state.last_success_at is None:
            checks[f"mailbox:{name}"] = "never read yet"
        elif (now - state.last_success_at).total_seconds() > stale_after_seconds:
            checks[f"mailbox:{name}"] = f"no good poll for over {stale_after_seconds:.0f} seconds"
        else:
            checks[f"mailbox:{name}"] = "ok"
    return Readiness(all(value == "ok" for value in checks.values()), checks)


@dataclass(frozen=True)
class MailboxHealth:
    """What readiness and the metrics need of a mailbox's recorded health, read out of its row."""

    last_success_at: dt.datetime | None
    consecutive_failures: int
    last_error: str | None


def mailbox_health(engine: Engine, mailboxes: Sequence[str]) -> dict[str, MailboxHealth]:
    """Each mailbox's health as the daemon last recorded it (one read, in a unit of work).

    Raises:
        SQLAlchemyError: the database cannot be reached.
    """
    with UnitOfWork(engine) as uow:
        states = {name: uow.mailboxes.state(name) for name in mailboxes}
        return {
            name: MailboxHealth(state.last_success_at, state.consecutive_failures, state.last_error)
            for name, state in states.items()
        }


# -- metrics --------------------------------------------------------------------------------------------------


class Metrics:
    """The service's Prometheus metrics in a registry of their own: this process's counters, and the
    database's figures read at each scrape. The pipeline reports to it as its observer."""

    def __init__(self, engine: Engine, mailboxes: Sequence[str], *, clock: Clock) -> None:
        self.registry = CollectorRegistry()
        self.taken = Counter(
            "nmss_messages_taken",
            "Messages this instance took from a mailbox, by outcome.",
            ["mailbox", "outcome"],
            registry=self.registry,
        )
        self.parse_seconds = Histogram(
            "nmss_parse_seconds",
            "Seconds this instance spent reading one message and its documents in the parse workers.",
            buckets=PARSE_BUCKETS,
            registry=self.registry,
        )
        self.send_failures = Counter(
            "nmss_outbox_send_failures",
            "Sends this instance tried that failed (retried later, or given up and made a team task).",
            registry=self.registry,
        )
        # Which instance holds each mailbox. Today a file lock on one host decides it, so this says whether
        # this process polls; a lease in the database, once there, is read here as the holder's name instead.
        self.poller = Gauge(
            "nmss_poller_active",
            "1 while this instance holds the poller lock of the mailbox (it is the one polling it).",
            ["mailbox"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(engine, mailboxes, clock))

    # The pipeline's observer: called as messages are taken and the outbox sent.

    def message_taken(self, mailbox: str, outcome: str) -> None:
        self.taken.labels(mailbox=mailbox, outcome=outcome).inc()

    def message_read(self, seconds: float) -> None:
        self.parse_seconds.observe(seconds)

    def outbox_sent(self, report: SendReport) -> None:
        self.send_failures.inc(report.deferred + report.failed)


class StoreCollector(Collector):
    """The figures that live in the database, read at each scrape so that two instances report the same."""

    def __init__(self, engine: Engine, mailboxes: Sequence[str], clock: Clock) -> None:
        self.engine = engine
        self.mailboxes = tuple(mailboxes)
        self.clock = clock

    def describe(self) -> Iterable[Any]:
        return []  # read at each scrape: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("nmss_database_up", "1 when the database answered this scrape.")
        try:
            with UnitOfWork(self.engine) as uow:
                outcomes = uow.ledger.count_by_outcome()
                outbox = uow.outbox.count_by_state()
            states = mailbox_health(self.engine, self.mailboxes)
        except SQLAlchemyError as exc:
            log.warning("metrics_database_unreachable", error_type=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        decided = GaugeMetricFamily(
            "nmss_messages", "Messages in the ledger by outcome (all instances).", labels=["outcome"]
        )
        for outcome, count in sorted(outcomes.items()):
            decided.add_metric([outcome], count)
        yield decided
        yield GaugeMetricFamily("nmss_outbox_backlog", "Emails waiting to be sent.", value=outbox.get("pending", 0))
        yield GaugeMetricFamily(
            "nmss_outbox_failed", "Emails given up on (each a team task).", value=outbox.get("failed", 0)
        )
        age = GaugeMetricFamily(
            "nmss_last_good_poll_age_seconds", "Seconds since the mailbox was last read well.", labels=["mailbox"]
        )
        failures = GaugeMetricFamily(
            "nmss_mailbox_consecutive_failures", "Failed polls in a row of the mailbox.", labels=["mailbox"]
        )
        now = self.clock()
        for name, state in states.items():
            if state.last_success_at is not None:
                age.add_metric([name], max(0.0, (now - state.last_success_at).total_seconds()))
            failures.add_metric([name], state.consecutive_failures)
        yield age
        yield failures


# -- the daemon's HTTP endpoints -------------------------------------------------------------------------------


def monitoring_app(
    alive: Callable[[], bool], ready: Callable[[], Readiness], registry: CollectorRegistry
) -> WSGIApplication:
    """The WSGI app: ``/healthz`` answers 200 while ``alive()``, ``/readyz`` 200 while ``ready()`` is,
    ``/metrics`` the registry in Prometheus's text format; anything else 404."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            served: Iterable[bytes] = metrics(environ, start_response)
            return served
        if path == "/healthz":
            ok = alive()
            return _json(start_response, 200 if ok else 503, {"alive": ok})
        if path == "/readyz":
            result = ready()
            return _json(start_response, 200 if result.ready else 503, result.as_json())
        return _json(start_response, 404, {"error": "not found"})

    return app


def _json(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Cache-Control", "no-store")],
    )
    return [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the daemon's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the service's own log: they are not logged."""


class MonitoringServer:
    """The endpoints served on a thread of the daemon's own until ``close``."""

    def __init__(self, app: WSGIApplication, host: str, port: int) -> None:
        """Bind ``host:port`` (0: any free port, then ``self.port``).

        Raises:
            MonitoringUnavailable: the address is taken or may not be bound.
        """
        try:
            self._server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise MonitoringUnavailable(
                f"cannot serve health and metrics on {host}:{port} ({exc.strerror}): "
                "change [monitoring] host or port, or set enabled = false"
            ) from exc
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitoring", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
