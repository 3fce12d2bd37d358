"""Errors the shell raises. Expected outcomes (an incomplete form, a scanned PDF) are values, not exceptions."""


class IntakeError(Exception):
    """Root of the service's own errors; the CLI prints these as one line with exit code 1."""


class MailboxUnavailable(IntakeError):
    """The mailbox cannot be reached or read just now: retry at the next poll."""


class AlreadyRunning(IntakeError):
    """Another poller holds this mailbox: two at once would process messages twice."""


class LeaseUnavailable(IntakeError):
    """The database that keeps the poller's lease (PostgreSQL) did not answer: nobody can say who polls."""


class StateDirUnwritable(IntakeError):
    """The state folder (``state_dir``, where the poller's lock file lives) cannot be created or written."""


class MailboxAuthError(MailboxUnavailable):
    """The mailbox refused our credentials or permissions (HTTP 401/403, a token request turned down).

    A subclass of MailboxUnavailable so a poll waits for the next tick, but named apart: retrying will not help
    until someone fixes the app registration, secret or password, so health reports it as such.
    """


class DatabaseNotReady(IntakeError):
    """The database, as it stands, cannot be brought to the newest schema; the message says what to do.

    Raised before anything else happens, so a command that meets it has changed nothing.
    """


class MonitoringUnavailable(IntakeError):
    """The daemon cannot serve its health and metrics on ``[monitoring] host:port`` (taken, or not allowed)."""
