"""Logging with structlog: JSON lines when not on a terminal, and no patient data, ever.

Information governance forbids names, NHS numbers, dates of birth, addresses, subjects, file names and
exception text that may echo input in logs. Rather than trust every call site, the redaction processor
lets through only keys known to carry ids, codes, counts and timings, and turns exceptions into their
class name. A new key must be added to ``SAFE_KEYS`` on purpose.
"""

from __future__ import annotations

import logging
import sys
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
        "kind",
        "priority",
        "flags",
        "duration_ms",
        "error_type",
        "revision",
        "interval_seconds",
        "signal",
        "database",
        "version",
        "attempts",
        "permanent",
        "retry_in_seconds",
        "failures",
        "resubmission_of",
    }
)
"""Keys whose values are ids (ledger, outbox, a reference), codes, counts, flags and timings: never patient data."""

REDACTED_ON_PURPOSE: frozenset[str] = frozenset()
"""Keys a call site passes knowing they print as ``[redacted]`` (kept for a count of events, say, but whose
value may echo input). None today; tests/unit/test_logs.py fails for a key in neither set, so a new key is a
decision, not an accident."""

REDACTED = "[redacted]"


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
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # pdfminer, extract-msg and friends log through the standard library, often quoting the document they
    # choke on. Their records come through here as the logger's name and level only.
    logging.basicConfig(level=logging.WARNING, handlers=[LibraryRecords()], force=True)


class LibraryRecords(logging.Handler):
    """Re-logs a standard-library record as a structlog event with its logger name and level, never its text."""

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger("library").log(record.levelno, "library_log", logger=record.name)
