"""The daemon: APScheduler jobs poll the mailbox, send the outbox, the digest and reminders, and purge what
retention makes due, until SIGTERM or SIGINT."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from types import FrameType
from typing import Protocol, runtime_checkable

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import InterfaceError, OperationalError

from intake.bootstrap import App, Poller, retention_periods
from intake.commands import purge
from intake.digest import queue_digest_if_due
from intake.errors import AlreadyRunning, MailboxUnavailable
from intake.followups import queue_reminders
from intake.health import take_and_record
from intake.lease import Lease
from intake.monitoring import Metrics, MonitoringServer, Readiness, monitoring_app, readiness
from intake.outbox import SendReport
from intake.pipeline import Taken, send_outbox
from notifier.digest import InsecureRecipient

log = structlog.get_logger("intake.daemon")

POLL_EXECUTOR = "poll"
"""The poll's own thread: reading one message may take its whole time budget, and the outbox, the digest and
the reminders (on the default executor's single thread) must not wait behind it."""

LEASE_EXECUTOR = "lease"
"""The lease job's own thread (``LeaseWatch``)."""

_sending = threading.Lock()
"""Held while the outbox is sent: the poll and the outbox jobs run on different threads, and two sends at once
could send the same pending row twice."""


DATABASE_OUTAGES = (OperationalError, InterfaceError)
"""What the database driver raises when the server is restarting, unreachable or dropped the connection."""


@contextmanager
def database_outage_ends_run(job: str) -> Iterator[None]:
    """End a job's run with one warning line when the database does not answer; the next run tries again.

    Each job reads from the database what is due, so a run cut short loses nothing. Left to the scheduler, the
    error would be logged with a traceback whose formatting fills the interpreter's source-line cache with
    every file on the stack: megabytes of the daemon's memory that are never given back, over a few restarts
    of the database.
    """
    try:
        yield
    except DATABASE_OUTAGES as exc:
        # The driver's class (AdminShutdown, ...) says more than SQLAlchemy's wrapper; the text may quote
        # the statement's parameters, so it stays out.
        log.warning("database_unavailable", job=job, error_type=type(exc.orig or exc).__name__)


def send_outbox_alone(app: App) -> SendReport:
    """``send_outbox``, one thread at a time."""
    with _sending:
        report = send_outbox(app.services)
    app.services.observer.outbox_sent(report)
    return report


def poll_once(app: App, stopping: threading.Event | None = None, poller: Poller | None = None) -> None:
    """One tick of ``poller`` (default: the first mailbox): take what is waiting, then send what is pending. A
    mailbox outage waits for the next tick.

    Only the holder of the mailbox's lease takes mail; a standby only sends. Once ``stopping`` is set, the tick
    takes no further message (the one in hand is finished first).
    """
    poller = poller or app.pollers[0]
    with database_outage_ends_run(named("poll", app, poller)):
        _poll(app, stopping, poller)


def _poll(app: App, stopping: threading.Event | None, poller: Poller) -> None:
    taken: Sequence[Taken] = []
    if poller.lease.hold():
        try:
            # Health notes success or failure.
            until = UntilStoppedOrLost(poller.lease, stopping)
            taken = take_and_record(poller.mailbox, app.services, app.settings, stopping=until)
        except (MailboxUnavailable, OSError) as exc:
            log.warning("poll_failed", mailbox=poller.mailbox.name, error_type=type(exc).__name__)
    report = send_outbox_alone(app)
    if taken or report:
        log.info(
            "poll_done",
            mailbox=poller.mailbox.name,
            taken=len(taken),
            sent=report.sent,
            deferred=report.deferred,
            failed=report.failed,
        )


# -- the scheduler's jobs: each reads the database to decide what is due ----------------------------------------

OUTBOX_INTERVAL_SECONDS = 60
"""How often pending outgoing mail is retried, besides after each poll."""

DIGEST_CHECK_SECONDS = 60
"""How often the digest job asks whether today's digest is due: it goes out within a minute of its time."""

REMINDER_CHECK_SECONDS = 300
"""How often the reminder job looks for follow-up calls that have fallen due."""

RETENTION_INTERVAL_SECONDS = 24 * 3600
"""Retention purges once a day, first a minute after start-up (after the first poll): a daemon restarted
every day still purges daily, and a purge that finds nothing due changes nothing."""

MISFIRE_GRACE_SECONDS = {"poll": 30, "outbox": 60, "digest": 300, "reminders": 300, "retention": 3600, "lease": 30}
"""How late a job may still start. A run missed beyond this is skipped, which loses nothing: the next run
finds in the database whatever the skipped one would have done."""


def send_pending(app: App) -> None:
    """Send what is pending in the outbox (replies, the digest, reminders, alerts)."""
    with database_outage_ends_run("outbox"):
        report = send_outbox_alone(app)
        if report:
            log.info("outbox_sent", sent=report.sent, deferred=report.deferred, failed=report.failed)


def digest_tick(app: App) -> None:
    """Queue and send today's digest if it is due and not queued yet (a working day, after its time)."""
    key = None
    try:
        with database_outage_ends_run("digest"), app.services.unit_of_work() as uow:
            key = queue_digest_if_due(uow, app.settings, now=app.services.clock(), tz=app.services.timezone)
    except InsecureRecipient:
        log.error("digest_not_queued", error_type="InsecureRecipient")
        return
    if key is not None:
        send_pending(app)


def reminders_tick(app: App) -> None:
    """Queue and send a reminder for each follow-up call that has fallen due and has not been reminded."""
    queued = 0
    try:
        with database_outage_ends_run("reminders"), app.services.unit_of_work() as uow:
            queued = queue_reminders(
                uow,
                now=app.services.clock(),
                tz=app.services.timezone,
                service=app.settings.service,
                recipients=app.settings.service.team_addresses,
                secure_domains=app.settings.service.secure_domains,
            )
    except InsecureRecipient:
        log.error("reminders_not_queued", error_type="InsecureRecipient")
        return
    if queued:
        send_pending(app)


class UntilStoppedOrLost:
    """Set once the daemon is told to stop or it no longer holds the lease: looked at before each message, so
    a poller that lost its lease (its connection to the database cut) stops taking mail after the message in
    hand, rather than at the end of the batch, while another instance may have taken over."""

    def __init__(self, lease: Lease, stopping: threading.Event | None) -> None:
        self.lease = lease
        self.stopping = stopping

    def is_set(self) -> bool:
        return (self.stopping is not None and self.stopping.is_set()) or not self.lease.hold()


class LeaseWatch:
    """A lease job's memory: whether this instance held the mailbox's lease at the last look, so that taking it
    over starts a poll at once rather than at the next interval."""

    def __init__(self, lease: Lease, wake: Callable[[], None] | None = None) -> None:
        self.lease = lease
        self.wake = wake
        self.held = False
        self.observe: Callable[[bool], None] | None = None  # the metrics' lease-holder gauge

    def tick(self) -> None:
        problem = self.lease.problem
        held = self.lease.hold()
        if self.lease.problem is not None and problem is None:  # once per outage, not at every tick
            log.warning("lease_unavailable", mailbox=self.lease.mailbox, error_type=self.lease.problem)
        if held and not self.held:
            log.info("lease_taken", mailbox=self.lease.mailbox)
            if self.wake is not None:
                self.wake()
        self.held = held
        if self.observe is not None:
            self.observe(held)


def named(base: str, app: App, poller: Poller) -> str:
    """A job's or executor's name for ``poller``: ``base`` for the first mailbox (as with one mailbox only),
    ``base-NAME`` for each other one."""
    return base if poller.mailbox.name == app.mailbox.name else f"{base}-{poller.mailbox.name}"


def retention_tick(app: App) -> None:
    """Purge what the retention settings make due today (``nmss-intake purge`` does the same by hand)."""
    with database_outage_ends_run("retention"), app.services.unit_of_work() as uow:
        purge(
            uow,
            retention_periods(app.settings),
            today=app.services.today(),
            now=app.services.clock(),
            tz=app.services.timezone,
        )


def new_scheduler(
    app: App,
    kind: type[BaseScheduler] = BlockingScheduler,
    stopping: threading.Event | None = None,
    leases: Sequence[LeaseWatch] = (),
) -> BaseScheduler:
    """A scheduler of ``kind`` with the service's jobs, as the daemon runs it.

    The outbox, digest and reminders share one worker thread, so they never overlap; the poll has its own,
    and stops taking messages once ``stopping`` is set.
    """
    scheduler = kind(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone=app.settings.service.timezone,
    )
    add_jobs(scheduler, app, stopping, leases)
    return scheduler


def add_jobs(
    scheduler: BaseScheduler,
    app: App,
    stopping: threading.Event | None = None,
    leases: Sequence[LeaseWatch] = (),
) -> None:
    """Add the service's jobs to ``scheduler``: a poll per mailbox, the outbox, retention, the digest and reminders,
    and a lease job per shared lease in ``leases``.

    Each runs at most one instance at a time, coalesces a backlog of missed runs into one, and starts at once,
    so a restart catches up on whatever fell due while the service was down. The digest and reminders need
    ``service.team_addresses``; without them those jobs are left out (``run_daemon`` logs it once). Each
    mailbox's poll runs on an executor of its own (``POLL_EXECUTOR``, then ``poll-NAME``), added here, so a
    slow message in one mailbox does not hold the others; it stops taking messages once ``stopping`` is set.
    """
    now = dt.datetime.now(dt.UTC)
    for poller in app.pollers:
        executor = named(POLL_EXECUTOR, app, poller)
        scheduler.add_executor(ThreadPoolExecutor(1), alias=executor)
        scheduler.add_job(
            poll_once,
            "interval",
            args=[app, stopping, poller],
            seconds=app.settings.poll_interval_seconds,
            id=named("poll", app, poller),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS["poll"],
            executor=executor,
            next_run_time=now,
        )
    jobs: list[tuple[str, Callable[[App], None], int]] = [
        ("outbox", send_pending, OUTBOX_INTERVAL_SECONDS),
        ("retention", retention_tick, RETENTION_INTERVAL_SECONDS),
    ]
    if app.settings.service.team_addresses:
        jobs += [("digest", digest_tick, DIGEST_CHECK_SECONDS), ("reminders", reminders_tick, REMINDER_CHECK_SECONDS)]
    for job_id, function, seconds in jobs:
        scheduler.add_job(
            function,
            "interval",
            args=[app],
            seconds=seconds,
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS[job_id],
            executor="default",
            # The outbox and retention start a little after the polls, so the first poll (which also sends)
            # goes first.
            next_run_time=now + dt.timedelta(seconds=FIRST_RUN_DELAY_SECONDS.get(job_id, 0)),
        )
    if leases:
        # A standby's attempts to take the leases over, twice per takeover time, on a thread of their own so
        # that a slow send or poll cannot delay a takeover.
        scheduler.add_executor(ThreadPoolExecutor(1), alias=LEASE_EXECUTOR)
    for watch in leases:
        scheduler.add_job(
            watch.tick,
            "interval",
            seconds=app.settings.lease.takeover_seconds / 2,
            id=f"lease-{watch.lease.mailbox}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS["lease"],
            executor=LEASE_EXECUTOR,
            next_run_time=now,
        )


FIRST_RUN_DELAY_SECONDS = {"outbox": 5, "retention": 60}


@runtime_checkable
class Watchable(Protocol):
    """**Protocol:** a mailbox that can say when new mail arrives (IMAP IDLE): ``watch`` blocks until ``stop``
    is set and calls ``wake`` on each change."""

    def watch(self, wake: Callable[[], None], stop: threading.Event) -> None: ...


def run_daemon(app: App) -> None:
    """Poll every ``poll_interval_seconds`` until told to stop; a stop lets the message in hand finish first.

    With a lease other hosts share (PostgreSQL), a daemon that finds it held stands by: it sends the outbox,
    the digest and reminders, and tries to take the lease over until the holder is gone. Otherwise (the file
    lock) it refuses to start: the other poller is on this host. With ``[monitoring] enabled``, serves
    ``/healthz``, ``/readyz`` and ``/metrics`` on its host and port until it stops.

    Raises:
        MonitoringUnavailable: monitoring is on and its address cannot be bound (before anything is polled).
    """
    pollers = app.pollers
    for poller in pollers:
        if not poller.lease.shared and not poller.lease.hold():
            raise AlreadyRunning(f"another poller is working on mailbox {poller.lease.mailbox}")
    # Set on SIGTERM or SIGINT: the watchers end, and a running poll finishes the message in hand (its parse
    # is bounded by the workers' time limit) and takes no more, so shutting down waits for one message at most.
    names = [poller.mailbox.name for poller in pollers]
    metrics = Metrics(app.engine, names, clock=app.services.clock)
    if app.settings.monitoring.enabled:
        app = replace(app, services=replace(app.services, observer=metrics))
    stopping = threading.Event()
    scheduler: BaseScheduler | None = None
    monitoring = serve_monitoring(app, metrics, alive=lambda: not stopping.is_set())

    # IDLE (or the like), and taking a lease over, only wake a mailbox's poll job; the poll's own listing
    # decides what is new. A one-off job rather than moving "poll" forward: a wake during a running poll would
    # be skipped as a second instance. Two instances are allowed so a wake during a woken poll queues behind
    # it on the poll's single thread (never beside it); replace_existing keeps at most one waiting.
    def waker(poller: Poller) -> Callable[[], None]:
        def wake() -> None:
            with suppress(SchedulerNotRunningError):
                assert scheduler is not None
                scheduler.add_job(
                    poll_once,
                    args=[app, stopping, poller],
                    id=named("poll-now", app, poller),
                    replace_existing=True,
                    max_instances=2,
                    executor=named(POLL_EXECUTOR, app, poller),
                )

        return wake

    wakes = {poller.mailbox.name: waker(poller) for poller in pollers}
    watches = [LeaseWatch(poller.lease) for poller in pollers if poller.lease.shared]
    scheduler = new_scheduler(app, stopping=stopping, leases=watches)
    interval = app.settings.poll_interval_seconds
    for poller in pollers:
        if isinstance(poller.mailbox, Watchable):
            wake = wakes[poller.mailbox.name]
            threading.Thread(target=poller.mailbox.watch, args=(wake, stopping), name="watch", daemon=True).start()

    stopper: list[threading.Thread] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        if stopper:
            return
        # Shut down on a thread of its own, never in the handler: the signal may land while this (main) thread
        # holds the scheduler's job-store lock, which a running poll needs to end (a wake adds a job), and
        # ``shutdown(wait=True)`` waits for that poll: a daemon stopped so hung until it was killed.
        stopper.append(threading.Thread(target=_shut_down, args=(scheduler, signum), name="nmss-stop"))
        stopper[0].start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("daemon_started", mailbox=app.mailbox.name, interval_seconds=interval)
    for poller in pollers:
        if not poller.lease.shared:
            metrics.poller.labels(mailbox=poller.mailbox.name).set(1)  # held since the check above
    for watch in watches:
        watch.observe = metrics.poller.labels(mailbox=watch.lease.mailbox).set
        watch.tick()  # whether this instance starts as the poller (whose first poll starts at once) or stands by
        watch.wake = wakes[watch.lease.mailbox]
        if not watch.held:
            log.info("lease_standby", mailbox=watch.lease.mailbox, takeover_seconds=app.settings.lease.takeover_seconds)
    if not app.settings.service.team_addresses:
        log.warning("team_mail_off_no_team_addresses")  # no digest and no follow-up reminders
    try:
        if not stopping.is_set():
            scheduler.start()
    finally:
        for thread in stopper:
            thread.join()  # the running jobs have ended: only then may another instance take the mailbox
        for poller in pollers:
            poller.lease.release()
        if monitoring is not None:
            monitoring.close()
    log.info("daemon_stopped")


def _shut_down(scheduler: BaseScheduler, signum: int) -> None:
    log.info("stopping", signal=signal.Signals(signum).name)
    with suppress(SchedulerNotRunningError):  # stopped before it started: the daemon does not start it
        scheduler.shutdown(wait=True)


def serve_monitoring(app: App, metrics: Metrics, *, alive: Callable[[], bool]) -> MonitoringServer | None:
    """Start serving the daemon's health and metrics, if ``[monitoring] enabled``; None when it is not.

    Raises:
        MonitoringUnavailable: the address cannot be bound.
    """
    settings = app.settings.monitoring
    if not settings.enabled:
        return None

    def ready() -> Readiness:
        return readiness(
            app.engine,
            [poller.mailbox.name for poller in app.pollers],
            now=app.services.clock(),
            stale_after_seconds=settings.stale_after_seconds,
            alert_after_failures=app.settings.health.alert_after_failures,
        )

    server = MonitoringServer(monitoring_app(alive, ready, metrics.registry), settings.host, settings.port)
    server.start()
    log.info("monitoring_started", host=settings.host, port=server.port)
    return server
