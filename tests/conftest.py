"""Shared fixtures. Keep this file generic; add each kind of fixture in its own section below.

Databases are real: SQLite files in ``tmp_path`` and a throwaway PostgreSQL cluster that this file starts
once per session from the Debian server binaries (``scripts/install-system-packages`` installs them).
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from intake.store import make_engine
from tests.integration.dovecot import Dovecot, DovecotUnavailable

# ---------------------------------------------------------------------------------------------------------
# Markers
# ---------------------------------------------------------------------------------------------------------

POSTGRES_FIXTURES = frozenset({"postgres_cluster", "postgres_url", "postgres_engine"})

DATABASE_FIXTURES = frozenset({"database_url", "database_engine", "new_database", "filled"})
"""Fixtures that give a test the database ``NMSS_TEST_DATABASE`` chooses: a test using any of them (the e2e
``service`` fixture does) is marked ``database``, and ``make test`` runs those again on PostgreSQL."""

TEST_DATABASES = ("sqlite", "postgresql")


@functools.cache
def chosen_database() -> str:
    """The database the service's tests run on: ``NMSS_TEST_DATABASE``, ``sqlite`` (the default) or ``postgresql``.

    Read once, when the run starts: fixtures clear every ``NMSS_`` variable for the service under test.
    """
    chosen = os.environ.get("NMSS_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
    if chosen not in TEST_DATABASES:
        raise pytest.UsageError(f"NMSS_TEST_DATABASE={chosen!r}: use one of {', '.join(TEST_DATABASES)}")
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    chosen_database()  # a misspelt choice stops the run before anything is collected


def pytest_report_header() -> str:
    return f"database: {chosen_database()} (NMSS_TEST_DATABASE)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the databases they use, and leave out, on PostgreSQL, those about SQLite itself.

    A test that uses a PostgreSQL fixture gets the ``postgres`` marker (``-m postgres``), one that uses the
    chosen database the ``database`` marker (``-m database``). With ``NMSS_TEST_DATABASE=postgresql`` a test
    marked ``sqlite_only`` (its file, permissions or locks, or the embedded defaults) or ``reading_only`` (how a
    scan or a photo is read, which no database changes) is deselected: it ran in the SQLite pass and has no
    PostgreSQL meaning.
    """
    on_postgres = chosen_database() == "postgresql"
    kept, dropped = [], []
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if POSTGRES_FIXTURES & fixtures:
            item.add_marker(pytest.mark.postgres)
        if DATABASE_FIXTURES & fixtures:
            item.add_marker(pytest.mark.database)
            if on_postgres:
                item.add_marker(pytest.mark.postgres)
        left_out = item.get_closest_marker("sqlite_only") or item.get_closest_marker("reading_only")
        (dropped if on_postgres and left_out else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# ---------------------------------------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty SQLite file in this test's ``tmp_path`` (WAL mode, as the service uses)."""
    engine = make_engine(f"sqlite:///{tmp_path}/nmss.db")
    yield engine
    engine.dispose()


# ---------------------------------------------------------------------------------------------------------
# PostgreSQL: one throwaway cluster per session, one fresh database per test
# ---------------------------------------------------------------------------------------------------------

PG_START_TIMEOUT = 30.0
PG_USER = "postgres"  # the cluster's superuser; trust authentication on 127.0.0.1 only


def _pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl and postgres."""
    candidates = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            try:
                candidates.append((float(bindir.parent.name), bindir))
            except ValueError:
                continue
    return max(candidates)[1] if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no server log: {exc})"


class _Cluster:
    """A PostgreSQL cluster in a fresh /tmp directory, run as the ``postgres`` user when we are root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.owner: pwd.struct_passwd | None = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root but there is no 'postgres' user: run scripts/install-system-packages")
        else:
            self.owner = None
        # Not tmp_path: its parents may be root-only (0700); /tmp is reachable by the postgres user.
        self.dir = Path(tempfile.mkdtemp(prefix="nmss-pg-", dir="/tmp"))
        if self.owner is not None:
            os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        return subprocess.run(command, cwd=self.dir, capture_output=True, text=True, check=False, timeout=120)

    def fail(self, what: str, result: subprocess.CompletedProcess[str] | None = None) -> None:
        output = f"\n{result.stdout}{result.stderr}" if result is not None else ""
        pytest.fail(f"PostgreSQL: {what}{output}\n--- server log tail ({self.log}):\n{_tail(self.log)}", pytrace=False)

    def start(self) -> None:
        result = self.run(
            "initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"
        )
        if result.returncode != 0:
            self.fail("initdb failed", result)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# throwaway test cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        for attempt in range(1, 4):  # a free port can be taken between picking it and binding it: pick again
            self.port = _free_port()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {self.port}\n")  # the last setting wins
            result = self.run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(PG_START_TIMEOUT)), "start"
            )
            if result.returncode == 0:
                break
            if attempt == 3 or "Address already in use" not in _tail(self.log, 10):
                self.fail("pg_ctl start failed", result)
        deadline = time.monotonic() + PG_START_TIMEOUT
        while True:
            try:
                with self.connect():
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.fail(
                        f"not accepting connections on 127.0.0.1:{self.port} after {PG_START_TIMEOUT:.0f} s: {exc}"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A maintenance connection (autocommit, so CREATE/DROP DATABASE work)."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, dbname=dbname, autocommit=True, connect_timeout=2
        )

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def copy_database(self, template: str, name: str) -> str:
        """A new database ``name`` as a copy of ``template`` (whose connections are ended first: PostgreSQL
        copies only a database nobody is connected to)."""
        with self.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (template,),
            )
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[_Cluster]:
    """The session's running cluster (prefer ``postgres_url`` / ``postgres_engine``)."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run scripts/install-system-packages"
        )
    cluster = _Cluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: _Cluster) -> str:
    """A SQLAlchemy URL to a database created once for the session: ``postgresql+psycopg://postgres@127.0.0.1:PORT/nmss``."""
    return postgres_cluster.create_database("nmss")


@pytest.fixture
def postgres_engine(postgres_cluster: _Cluster) -> Iterator[Engine]:
    """An engine on a fresh, empty database of its own, dropped after the test."""
    name = f"nmss_{uuid.uuid4().hex[:12]}"
    engine = make_engine(postgres_cluster.create_database(name))
    try:
        yield engine
    finally:
        engine.dispose()
        postgres_cluster.drop_database(name)


# ---------------------------------------------------------------------------------------------------------
# The chosen database (NMSS_TEST_DATABASE): a fresh, empty one per test
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def new_database(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], str]]:
    """Makes a fresh, empty database of the chosen kind for a service in a folder and returns its URL.

    SQLite: ``FOLDER/var/nmss.db``, where the embedded defaults put it (created on first use). PostgreSQL: a
    new database in the session's cluster (CREATE DATABASE takes some tens of milliseconds), dropped after
    the test.
    """
    if chosen_database() == "sqlite":
        yield lambda folder: f"sqlite:///{folder}/var/nmss.db"
        return
    cluster: _Cluster = request.getfixturevalue("postgres_cluster")
    made: list[str] = []

    def new(_folder: Path) -> str:
        name = f"nmss_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return cluster.create_database(name)

    yield new
    for name in made:
        cluster.drop_database(name)


@pytest.fixture
def database_url(new_database: Callable[[Path], str], tmp_path: Path) -> str:
    """The URL of this test's fresh, empty database of the chosen kind (SQLite: ``tmp_path/var/nmss.db``)."""
    return new_database(tmp_path)


@pytest.fixture
def database_engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's fresh, empty database of the chosen kind (not migrated)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# ---------------------------------------------------------------------------------------------------------
# Dovecot (issue 5, IMAP): one throwaway server per session on free 127.0.0.1 ports, emptied for each test
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """The session's running Dovecot (prefer ``dovecot``, which empties the mailbox first)."""
    try:
        server = Dovecot()
        server.start()
    except DovecotUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session's Dovecot with an empty INBOX and no other folders; user ``nmss``, a plaintext password."""
    dovecot_server.empty()
    return dovecot_server
