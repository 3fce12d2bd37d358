"""What can hold patient data is readable by the service's user only: files 0600, folders 0700, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.store import make_engine
from intake.web.security import session_key
from samples.scenarios import Scenario, deliver_to_maildir, incomplete

from .conftest import Service, log_events, today

pytestmark = pytest.mark.sqlite_only  # the database is a file here; on PostgreSQL the server keeps it


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test under the umask given as the parameter (the default umask of many machines is 022)."""
    previous = os.umask(request.param)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` (``root`` included) with its permission bits, by relative path."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def demo(service: Service) -> None:
    """What ``make demo`` does, through the CLI."""
    for command in (
        ("db", "upgrade"),
        ("samples", "practices", "var/epraccur.csv"),
        ("practices", "import", "var/epraccur.csv", "--commissioner", "26A"),
        ("samples", "deliver"),
        ("run", "--once"),
    ):
        assert service.invoke(*command).exit_code == 0, command


@pytest.mark.parametrize("umask", [0o000], indirect=True, ids=["umask 000"])
@pytest.mark.usefixtures("umask")
def test_with_umask_000_everything_the_demo_writes_under_var_is_0600_and_every_folder_0700(service: Service) -> None:
    demo(service)
    var = service.root / "var"
    engine = make_engine(f"sqlite:///{var}/nmss.db")
    try:
        with engine.begin() as connection:  # an open connection keeps -wal and -shm in place
            connection.exec_driver_sql("SELECT count(*) FROM message").one()
            found = modes(var)
    finally:
        engine.dispose()

    folders = {path for path in found if (var / path).is_dir()}
    assert {path: f"{mode:o}" for path, mode in found.items() if path in folders and mode != 0o700} == {}
    assert {path: f"{mode:o}" for path, mode in found.items() if path not in folders and mode != 0o600} == {}
    # Not vacuous: the database and its companions, filed mail, the outbox and the queue's source are all there.
    assert {"nmss.db", "nmss.db-wal", "nmss.db-shm", "epraccur.csv"} <= set(found)
    assert any(path.startswith("mailbox/.Incomplete/cur/") for path in found)
    assert any(path.startswith("outbox/") and path.endswith(".eml") for path in found)


@pytest.fixture
def one_incomplete() -> list[Scenario]:
    return [incomplete(today(), seed=7)]


@pytest.mark.parametrize("umask", [0o022], indirect=True, ids=["umask 022"])
@pytest.mark.usefixtures("umask")
def test_an_install_others_can_read_is_tightened_on_the_next_run_with_one_warning_each(
    service: Service, one_incomplete: list[Scenario]
) -> None:
    # As an older version left it under umask 022: a 0644 database, 0755 Maildir and outbox, 0644 mail.
    var = service.root / "var"
    var.mkdir()
    sqlite3.connect(var / "nmss.db").close()
    for sub in ("tmp", "new", "cur"):
        (service.mailbox / sub).mkdir(parents=True)
    service.outbox.mkdir()
    delivered = deliver_to_maildir(service.mailbox, one_incomplete)
    for path in (*delivered, var / "nmss.db"):
        path.chmod(0o644)
    for path in (service.mailbox, *(service.mailbox / sub for sub in ("tmp", "new", "cur")), service.outbox):
        path.chmod(0o755)

    first = service.invoke("run", "--once")
    second = service.invoke("run", "--once")

    assert (first.exit_code, second.exit_code) == (0, 0)
    found = modes(var)
    assert found["nmss.db"] == 0o600
    assert found["mailbox"] == found["mailbox/new"] == found["mailbox/cur"] == found["outbox"] == 0o700
    filed = [path for path in found if path.startswith("mailbox/.Incomplete/cur/")]
    assert [found[path] for path in filed] == [0o600]
    tightened = Counter(
        str(event["kind"]) for event in log_events(first.stderr) if event["event"] == "permissions.tightened"
    )
    assert tightened == {"database": 1, "mailbox": 4, "outbox": 1}
    assert not [event for event in log_events(second.stderr) if event["event"] == "permissions.tightened"]


@pytest.mark.parametrize("umask", [0o000], indirect=True, ids=["umask 000"])
@pytest.mark.usefixtures("umask")
def test_the_workspace_session_key_is_kept_0600_in_a_0700_state_folder(tmp_path: Path) -> None:
    # Whoever reads this key can forge a session cookie, and with it read every referral.
    state = tmp_path / "var"

    key = session_key("", state)

    assert session_key("", state) == key
    assert modes(state) == {".": 0o700, "web-secret": 0o600}
