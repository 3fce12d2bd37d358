"""Logging with structlog: JSON lines when not on a terminal, and no patient data, ever.

Information governance forbids names, NHS numbers, dates of birth, addresses, subjects, file names and
exception text that may echo input in logs. Rather than trust every call site, the redaction processor
lets through only keys known to carry ids, codes, counts and timings, and turns exceptions into their
class name. A new key must be added to ``SAFE_KEYS`` on purpose.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SAFE_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "ledger_id",
        "message_hash",
        "reference",
        "outcome",
        "forms",
        "codes",
        "reasons",
        "reply",
        "suppressed",
        "state",
        "mailbox",
        "folder",
        "uid",
        "count",
        "taken",
        "skipped",
        "sent",
        "failed",
        "deferred",
        "outbox_id",
        "task_id",
        "tasks",  # task kinds (codes), never their words
        "kind",
        "role",  # a workspace account's role: team or admin
        "priority",
        "flags",
        "duration_ms",
        "error_type",
        "revision",
        "interval_seconds",
        "signal",
        "job",  # a scheduler job's name: poll, outbox, digest, reminders, retention
        "database",
        "version",
        "attempts",
        "permanent",
        "retry_in_seconds",
        "takeover_seconds",
        "failures",
        "resubmission_of",
        "solo_crashes",
        "mode",
        "missed",  # how many earlier working days a digest also covers
        # retention's counts of what a purge removed
        "message_copies",
        "form_fields",
        "referral_details",
        "sent_emails",
        # where the daemon serves its health and metrics
        "host",
        "port",
    }
)
"""Keys whose values are ids (ledger, outbox, a reference), codes, counts, flags and timings: never patient data."""

REDACTED_ON_PURPOSE: frozenset[str] = frozenset()
"""Keys a call site passes knowing they print as ``[redacted]`` (kept for a count of events, say, but whose
value may echo input). None today; tests/unit/test_logs.py fails for a key in neither set, so a new key is a
decision, not an accident."""

REDACTED = "[redacted]"

log = structlog.get_logger("library")


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace the value of every key not in ``SAFE_KEYS``; reduce an exception to its class name."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        error = sys.exc_info()[1] if exc_info is True else exc_info[1] if isinstance(exc_info, tuple) else exc_info
        if isinstance(error, BaseException):
            event_dict["error_type"] = type(error).__name__
    event_dict.pop("exception", None)
    for key in list(event_dict):
        if key not in SAFE_KEYS:
            event_dict[key] = REDACTED
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send structlog's events to ``stream`` (stderr), as JSON lines unless ``fmt`` or a terminal says console."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    processors.append(structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer())
    # pdfminer, extract-msg and friends log through the standard library, often quoting the document they
    # choke on. Their records come through here as the logger's name and level only. Replacing the handler
    # closes the old one, whose last words go where the logs went until now: so before structlog moves.
    logging.basicConfig(level=logging.WARNING, handlers=[LibraryRecords()], force=True)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


class LibraryRecords(logging.Handler):
    """Re-logs a standard-library record as a structlog event with its logger name and level, never its text.

    A library can log in a loop (tnefparse warns once per property of a ``winmail.dat`` that claims four
    billion), so each library logger gets at most ``burst`` records per ``window_seconds``. The first record
    past that is replaced by one ``library_log_flood`` event; the rest are counted, not written, and the
    count comes out as ``skipped`` on the logger's next record in a later window, or at shutdown.
    """

    def __init__(
        self, *, burst: int = 20, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window = window_seconds
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def emit(self, record: logging.LogRecord) -> None:
        now = self._clock()
        window = self._windows.get(record.name)
        carried = 0
        if window is None or now - window.started >= self._window:
            carried = window.skipped if window is not None else 0
            window = self._windows[record.name] = _Window(started=now)
        window.written += 1
        if window.written <= self._burst and carried:
            log.log(record.levelno, "library_log", logger=record.name, skipped=carried)
        elif window.written <= self._burst:
            log.log(record.levelno, "library_log", logger=record.name)
        elif window.written == self._burst + 1:
            log.warning("library_log_flood", logger=record.name)
        else:
            window.skipped += 1

    def close(self) -> None:
        """Say how many records were left out, for every logger still flooding when logging shuts down."""
        for name, window in self._windows.items():
            if window.skipped:
                log.warning("library_log_skipped", logger=name, skipped=window.skipped)
        self._windows.clear()
        super().close()


@dataclass
class _Window:
    """One library logger's records in the current window: how many were let through, and how many not."""

    started: float
    written: int = 0
    skipped: int = 0
