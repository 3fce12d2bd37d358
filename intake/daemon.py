"""The daemon: an APScheduler job polls the mailbox and sends the outbox until SIGTERM or SIGINT."""

from __future__ import annotations

import datetime as dt
import signal
from types import FrameType

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from intake.bootstrap import App
from intake.errors import MailboxUnavailable
from intake.pipeline import send_outbox, take_new_mail

log = structlog.get_logger("intake.daemon")


def poll_once(app: App) -> None:
    """One tick: take what is waiting, then send what is pending. A mailbox outage waits for the next tick."""
    try:
        taken = take_new_mail(app.mailbox, app.services)
    except (MailboxUnavailable, OSError) as exc:
        log.warning("poll_failed", mailbox=app.mailbox.name, error_type=type(exc).__name__)
        taken = []
    sent, failed = send_outbox(app.services)
    if taken or sent or failed:
        log.info("poll_done", mailbox=app.mailbox.name, taken=len(taken), sent=sent, failed=failed)


def run_daemon(app: App) -> None:
    """Poll every ``poll_interval_seconds`` until told to stop; a stop lets the running poll finish first."""
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone=app.settings.service.timezone,
    )
    interval = app.settings.poll_interval_seconds
    scheduler.add_job(
        poll_once,
        "interval",
        args=[app],
        seconds=interval,
        id="poll",
        next_run_time=dt.datetime.now(dt.UTC),
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("daemon_started", mailbox=app.mailbox.name, interval_seconds=interval)
    scheduler.start()
    log.info("daemon_stopped")
