"""The poller's lease: one instance at a time polls a mailbox.

Two pollers on one mailbox would each take the same message. On SQLite the service runs on one host, and a
file lock in ``state_dir`` (``FileLease``) is enough. On PostgreSQL several instances on several hosts share
the database, so the lease is a session-level advisory lock (``PostgresLease``) held on a connection of its
own: PostgreSQL releases it the moment that connection ends, which a killed process's does at once and a dead
host's does once TCP keepalives give up (``lease.takeover_seconds`` sets them, on both ends). A standby tries
to take the lease every ``takeover_seconds / 2`` and polls once it has it; the holder checks its connection
before each poll and stops polling as soon as it cannot, so the two never poll together for longer than the
keepalives take to notice a broken network.

Only the poll needs the lease. The outbox is sent by every instance, row by row (``intake.outbox``), and the
digest and reminders are queued by whichever instance comes first, once per outbox key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import structlog
from sqlalchemy.engine import make_url

from intake.errors import AlreadyRunning, LeaseUnavailable, StateDirUnwritable
from notifier.private_files import private_folder

if TYPE_CHECKING:
    import psycopg

log = structlog.get_logger("intake.lease")

APPLICATION_NAME = "nmss-intake lease"
"""How a lease's connection names itself to PostgreSQL (``pg_stat_activity.application_name``), followed by
the holder's host and process id: who holds a lease can be read from the server."""


class Lease(Protocol):
    """**Protocol:** the right to poll one mailbox, held by one instance at a time."""

    mailbox: str
    shared: bool
    """Whether instances on other hosts share it: a second daemon then stands by rather than refusing to start."""
    problem: str | None
    """Why the last ``hold`` could not even ask (an exception's class name: the database did not answer), or
    None when it could: then False from ``hold`` means another instance holds the lease."""

    def hold(self) -> bool:
        """Whether this instance holds the lease now: takes it when it is free, checks it when already held."""
        ...

    def release(self) -> None:
        """Give the lease up (the next holder may take it at once)."""
        ...


class FileLease:
    """An exclusive ``flock`` on ``state_dir/poller-MAILBOX.lock``: one poller per mailbox on this host.

    The kernel releases it when the process ends, however it ends.
    """

    def __init__(self, state_dir: Path, mailbox: str) -> None:
        self.mailbox = mailbox
        self.shared = False
        self.problem: str | None = None
        self.path = state_dir / f"poller-{mailbox}.lock"
        self._fd: int | None = None

    def hold(self) -> bool:
        if self._fd is not None:
            return True
        directory = self.path.parent
        try:
            private_folder(directory, kind="state", shared=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateDirUnwritable(
                f"cannot write the state folder {directory} ({exc.strerror}): "
                "set state_dir (NMSS_STATE_DIR) to a folder this user can write"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lease_key(mailbox: str) -> int:
    """The advisory lock's number for ``mailbox``: a signed 64-bit number from its name, so each mailbox has
    its own lease and no other program's lock is likely to collide with it."""
    digest = hashlib.sha256(f"nmss-intake poller {mailbox}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLease:
    """A session-level advisory lock on a dedicated connection to the service's PostgreSQL database.

    Thread-safe: the daemon's lease job and its poll call ``hold`` from different threads.
    """

    def __init__(self, database_url: str, mailbox: str, *, takeover_seconds: float) -> None:
        self.mailbox = mailbox
        self.shared = True
        self.problem: str | None = None
        self.key = lease_key(mailbox)
        self.takeover_seconds = takeover_seconds
        self._url = database_url
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = False
        self._lock = threading.Lock()

    def hold(self) -> bool:
        import psycopg

        with self._lock:
            try:
                connection = self._connect()
                if self._held:
                    connection.execute("SELECT 1")  # still connected, so still the holder
                    return True
                row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            except psycopg.Error as exc:
                self.problem = type(exc).__name__
                self._drop(lost=self._held, error=exc)
                return False
            self.problem = None
            self._held = bool(row and row[0])
            return self._held

    def release(self) -> None:
        with self._lock:
            self._drop(lost=False)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._held = False
        self._connection = psycopg.connect(make_conninfo(self._libpq_url(), **self._liveness()), autocommit=True)
        return self._connection

    def _drop(self, *, lost: bool, error: Exception | None = None) -> None:
        import psycopg

        if lost:
            log.warning("lease_lost", mailbox=self.mailbox, error_type=type(error).__name__ if error else None)
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self._held and not connection.closed:
                # Said, not left to the session's end: the server ends a closed session a little later, and the
                # next holder should not have to wait for that.
                with contextlib.suppress(psycopg.Error):
                    connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        finally:
            self._held = False
            connection.close()

    def _libpq_url(self) -> str:
        url = make_url(self._url)
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _liveness(self) -> dict[str, str | int]:
        """Connection options that bound how long a dead peer goes unnoticed, on both ends, by the takeover time.

        The client's keepalives and ``tcp_user_timeout`` make the holder's check fail on a broken network; the
        server's (set for this session) end the session of a holder whose host died, which frees the lock.
        """
        budget = max(self.takeover_seconds, 2.0)
        idle = max(1, math.floor(budget / 3))
        interval = max(1, math.floor(budget / 6))
        server = {
            "tcp_keepalives_idle": idle,
            "tcp_keepalives_interval": interval,
            "tcp_keepalives_count": 3,
            "tcp_user_timeout": int(budget * 1000),
        }
        return {
            "application_name": f"{APPLICATION_NAME} {os.uname().nodename} {os.getpid()}"[:63],
            "connect_timeout": max(2, math.ceil(budget / 2)),
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": interval,
            "keepalives_count": 3,
            "tcp_user_timeout": int(budget * 1000),
            "options": " ".join(f"-c {name}={value}" for name, value in server.items()),
        }


def make_lease(database_url: str, state_dir: Path, mailbox: str, *, takeover_seconds: float) -> Lease:
    """The lease for ``mailbox``: an advisory lock when the database is PostgreSQL, a file lock otherwise."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return PostgresLease(database_url, mailbox, takeover_seconds=takeover_seconds)
    return FileLease(state_dir, mailbox)


class HeldLease:
    """``with HeldLease(lease):`` holds ``lease`` for the block, or raises AlreadyRunning if another has it."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def __enter__(self) -> Lease:
        if not self.lease.hold():
            if self.lease.problem is not None:
                raise LeaseUnavailable(
                    f"cannot take the poller's lease for mailbox {self.lease.mailbox}: "
                    f"the database did not answer ({self.lease.problem})"
                )
            raise AlreadyRunning(f"another poller is working on mailbox {self.lease.mailbox}")
        return self.lease

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.lease.release()
