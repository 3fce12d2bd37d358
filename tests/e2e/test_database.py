"""Creating or upgrading the database is all or nothing: killed at any instant, the next run works."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from intake.migrate import is_current
from intake.store import make_engine, metadata
from samples.scenarios import Scenario, deliver_to_maildir, incomplete
from tests.launcher import Ended, Launcher

from .conftest import Service, log_events, today

KILLS = 20
SCHEMA = {*metadata.tables, "alembic_version"}

NewDatabase = Callable[[Path], str]
"""Makes an empty database for a service in the given folder and returns its URL."""


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    with Launcher() as started:
        yield started


@pytest.fixture(scope="module")
def one_incomplete() -> list[Scenario]:
    return [incomplete(today(), seed=7)]


def environment(database_url: str) -> dict[str, str]:
    """This process's environment without any NMSS_ setting but the database, as a fresh install runs."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NMSS_")}
    return env | {"NMSS_DATABASE_URL": database_url, "NMSS_LOG_FORMAT": "json"}


def schema_state(database_url: str) -> str:
    """``empty`` or ``complete``; anything in between fails the test, naming the tables found."""
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        if not tables:
            return "empty"
        assert tables == SCHEMA, f"half a schema: {sorted(tables)}"
        assert is_current(engine), "every table but not the newest version"
        return "complete"
    finally:
        engine.dispose()


def database_file(url: str) -> str:
    """How the database shows among a process's open files: the SQLite file, or a socket to the server."""
    if url.startswith("sqlite:///"):
        return re.escape(url.removeprefix("sqlite:///")) + "$"
    return "^socket:"


def test_an_upgrade_killed_at_any_instant_leaves_all_or_nothing_and_the_next_run_works(
    launcher: Launcher,
    new_database: NewDatabase,
    service: Service,
    one_incomplete: list[Scenario],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # How long an upgrade has the database open, here and now: the kills spread over that time.
    measured = service.root / "measured"
    measured.mkdir()
    url = new_database(measured)
    reference = launcher.run(measured, "db", "upgrade", env=environment(url), database=database_file(url))
    assert reference.exit_code == 0
    assert reference.opened is not None
    window = reference.ended - reference.opened

    rng = random.Random()
    states: Counter[tuple[str, bool]] = Counter()
    for n in range(KILLS):
        delay = rng.uniform(0, window)
        folder = service.root / f"kill-{n:02}"
        folder.mkdir()
        url = new_database(folder)

        killed = launcher.run(
            folder, "db", "upgrade", env=environment(url), database=database_file(url), kill_after=delay
        )
        states[schema_state(url), killed.killed] += 1

        # The next commands run in this process, through the CLI, so the parse workers are started once.
        monkeypatch.chdir(folder)
        monkeypatch.setenv("NMSS_DATABASE_URL", url)
        after = Service(folder)
        deliver_to_maildir(after.mailbox, one_incomplete)
        upgraded = after.invoke("db", "upgrade")
        ran = after.invoke("run", "--once")
        assert (upgraded.exit_code, ran.exit_code) == (0, 0), f"kill {n} after {delay:.3f} s"
        assert after.folder_counts() == {"Incomplete": 1}, f"kill {n} after {delay:.3f} s: {ran.stdout}"
        assert len(list(after.outbox.glob("*.eml"))) == 1

    assert states["empty", True] >= 1, f"no kill landed before the commit (window {window:.3f} s): {dict(states)}"


def ruin_the_old_way(url: str, *, with_a_row: bool = False) -> None:
    """What an older version left when killed during its first migration: some empty tables, no version."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        for name in ("message", "audit_event", "form"):
            metadata.tables[name].create(connection)
        if with_a_row:
            connection.execute(
                text("INSERT INTO audit_event (at, event, detail, team_item) VALUES (:at, 'x', '', :no)"),
                {"at": dt.datetime(2026, 11, 28, tzinfo=dt.UTC), "no": False},
            )
    engine.dispose()


def test_a_database_an_older_version_left_half_made_is_mended_by_the_next_command(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    ruin_the_old_way(service.database)
    deliver_to_maildir(service.mailbox, one_incomplete)

    result = service.invoke("run", "--once")

    assert result.exit_code == 0
    assert "filed in Incomplete" in result.stdout
    assert schema_state(service.database) == "complete"
    warnings = [e for e in log_events(result.stderr) if e["event"] == "database.unfinished_schema_removed"]
    assert warnings == [{**warnings[0], "count": 3, "level": "warning"}]


def one_line_error(ended: Ended) -> str:
    """The one line a person reads: stderr without the service's JSON log lines."""
    assert ended.exit_code == 1
    assert ended.stdout == ""
    lines = [line for line in ended.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, ended.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_half_made_database_that_holds_data_is_left_alone_and_every_command_says_so_in_one_line(
    launcher: Launcher, tmp_path: Path, database_url: str
) -> None:
    ruin_the_old_way(database_url, with_a_row=True)
    env = environment(database_url)

    for command in (("db", "upgrade"), ("run", "--once"), ("referrals", "list"), ("status",)):
        line = one_line_error(launcher.run(tmp_path, *command, env=env))
        assert "holds data but no schema version" in line
        assert "restore it from a backup" in line

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_event")).one() == (1,)
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {"alembic_version", "message", "audit_event", "form"}


def test_a_file_that_is_not_a_database_is_one_line_not_a_traceback(launcher: Launcher, tmp_path: Path) -> None:
    database = tmp_path / "var" / "nmss.db"
    database.parent.mkdir()
    database.write_bytes(b"this is not a database\n" * 100)

    line = one_line_error(launcher.run(tmp_path, "db", "upgrade", env=environment(f"sqlite:///{database}")))

    assert "the database file is not a SQLite database, or is damaged" in line
    assert "restore the file from a backup" in line
