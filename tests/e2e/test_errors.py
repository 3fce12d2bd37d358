"""What goes wrong around the service, not in the mail, is one clear line: the command as an operator runs it."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from intake.migrate import upgrade
from tests.integration.test_hostile import memory_bomb

from .conftest import Service

SCRIPT = Path(sys.executable).with_name("nmss-intake")


def nmss(service: Service, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command in the service's folder, with only the ``NMSS_`` variables given here."""
    environment = service.environment() | {"NMSS_LOG_FORMAT": "json", **env}
    return subprocess.run(
        [str(SCRIPT), *args], cwd=service.root, env=environment, capture_output=True, text=True, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed, after checking it is all it printed (no traceback)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_database_that_cannot_be_reached_is_one_line_naming_the_setting_and_not_the_password(
    service: Service,
) -> None:
    url = f"postgresql+psycopg://nmss:hunter2@127.0.0.1:{closed_port()}/nmss"

    line = one_line_error(nmss(service, "status", NMSS_DATABASE_URL=url))

    assert "cannot reach the database" in line
    assert "Connection refused" in line
    assert "database_url" in line
    assert "hunter2" not in line


@pytest.mark.sqlite_only
def test_a_database_locked_by_another_program_is_one_line_saying_to_let_it_finish(service: Service) -> None:
    assert nmss(service, "db", "upgrade").returncode == 0
    holder = sqlite3.connect(service.root / "var" / "nmss.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # as a sqlite3 shell or a backup in the middle of a write would
        holder.execute("UPDATE alembic_version SET version_num = version_num")
        result = nmss(service, "run", "--once", NMSS_DATABASE_URL="sqlite:///var/nmss.db?timeout=1")
    finally:
        holder.close()

    line = one_line_error(result)
    assert "the database is locked by another program" in line
    assert "let it finish" in line


@pytest.mark.sqlite_only
def test_a_read_only_sqlite_database_is_one_line_saying_to_make_it_writable(service: Service) -> None:
    assert nmss(service, "db", "upgrade").returncode == 0

    result = nmss(service, "run", "--once", NMSS_DATABASE_URL="sqlite:///file:var/nmss.db?mode=ro&uri=true")

    line = one_line_error(result)
    assert "the database is read-only" in line
    assert "writable" in line


def test_a_read_only_postgresql_database_is_one_line_pointing_at_the_primary(
    service: Service, postgres_engine: Engine
) -> None:
    upgrade(postgres_engine)
    database = postgres_engine.url.database
    with postgres_engine.connect() as connection:
        # What a hot standby, or a database switched to read-only for maintenance, does to every session.
        connection.execute(text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'))
        connection.commit()
    url = postgres_engine.url.render_as_string(hide_password=False)

    line = one_line_error(nmss(service, "run", "--once", NMSS_DATABASE_URL=url))

    assert "the database is read-only" in line
    assert "primary" in line


def test_a_full_disk_is_one_line_saying_to_free_space(service: Service) -> None:
    line = one_line_error(nmss(service, "samples", "practices", "/dev/full"))  # every write: ENOSPC

    assert "the disk is full" in line
    assert "free some space" in line


@pytest.mark.sqlite_only  # on PostgreSQL the poller's lease is in the database, not a file in state_dir
def test_a_state_folder_that_cannot_be_written_is_one_line_naming_the_setting(service: Service) -> None:
    (service.root / "not-a-folder").write_bytes(b"")

    line = one_line_error(nmss(service, "run", "--once", NMSS_STATE_DIR="not-a-folder/var"))

    assert "cannot write the state folder not-a-folder/var" in line
    assert "state_dir" in line


def test_an_unknown_timezone_is_one_line_naming_the_setting_and_a_good_value(service: Service) -> None:
    line = one_line_error(nmss(service, "status", NMSS_SERVICE__TIMEZONE="Europe/Lundun"))

    assert "NMSS_SERVICE__TIMEZONE" in line
    assert "unknown time zone 'Europe/Lundun'" in line
    assert "Europe/London" in line


def test_an_nmss_variable_that_should_be_json_is_one_line_naming_it_without_its_value(service: Service) -> None:
    result = nmss(service, "status", NMSS_SERVICE__TEAM_ADDRESSES="nmss.team@nhs.net, other@nhs.net")

    line = one_line_error(result)
    assert "NMSS_SERVICE__TEAM_ADDRESSES is not valid JSON" in line
    assert "other@nhs.net" not in line


@pytest.mark.parametrize(
    ("data", "memory_mb"),
    [
        pytest.param(memory_bomb(300), 256, id="a-page-that-inflates-past-the-cap"),
        pytest.param(b"%PDF-1.7\n" + bytes(20 * 1024 * 1024), 128, id="a-file-too-big-for-the-worker-to-take-in"),
    ],
)
def test_a_worker_that_runs_out_of_memory_logs_one_json_line_and_no_traceback(
    service: Service, data: bytes, memory_mb: int
) -> None:
    (service.root / "Form 2 Ada Testcase.pdf").write_bytes(data)

    result = nmss(service, "parse", "Form 2 Ada Testcase.pdf", NMSS_LIMITS__PARSE_MEMORY_MB=str(memory_mb))

    assert result.returncode == 1
    assert result.stdout.startswith("Form 2 Ada Testcase.pdf: ")
    assert result.stdout.endswith(", too_large\n")
    [line, said] = result.stderr.splitlines()
    assert json.loads(line)["event"] == "parse_worker_out_of_memory"
    assert "Testcase" not in line
    assert said.startswith("Error: ")
    assert "over the memory limit (limits.parse_memory_mb)" in said
    assert "Traceback" not in result.stderr
