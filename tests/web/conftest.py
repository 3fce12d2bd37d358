"""The workspace on a database the real service filled: the sample emails through ``run --once``.

The pipeline runs once per test session (``filled``); each test gets its own copy of that database, the
workspace built on it with a clock the test moves, and a client that speaks HTTPS to it (the session cookie
is Secure). Accounts are made through ``nmss-intake users add``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from config.settings import load_settings
from intake.bootstrap import App, bootstrap
from intake.cli import cli
from samples.emails import referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import patient, seeded
from samples.scenarios import FILENAMES, Scenario, deliver_to_maildir, incomplete
from tests.conftest import chosen_database

TEAM = "pharmacist@nhs.net"
ADMIN = "admin@nhs.net"
PASSWORD = "correct horse battery staple"


def invoke(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


FILLED_DATABASE = "nmss_filled"
"""On PostgreSQL, the database ``filled`` fills once, which each test gets a copy of (``filled_database``)."""


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A ``var/`` after ``samples deliver`` and ``run --once``, with a team and an admin account.

    On SQLite the database is in it; on PostgreSQL it is ``FILLED_DATABASE``, which ``filled_database`` copies.
    """
    root = tmp_path_factory.mktemp("filled")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in list(os.environ):
            if name.startswith("NMSS_"):
                patch.delenv(name)
        patch.setenv("NMSS_LOG_FORMAT", "json")
        if chosen_database() == "postgresql":
            cluster = request.getfixturevalue("postgres_cluster")
            patch.setenv("NMSS_DATABASE_URL", cluster.create_database(FILLED_DATABASE))
        invoke("db", "upgrade")
        invoke("samples", "practices", "var/epraccur.csv")
        invoke("practices", "import", "var/epraccur.csv", "--commissioner", "26A")
        invoke("samples", "deliver")
        invoke("run", "--once")
        # One more incomplete referral, from a pharmacy past its daily reply limit: its reply is held back,
        # so the team has a "reply by hand" task; and a referral whose forms are about two patients, for review.
        settings = load_settings()
        day = dt.datetime.now(ZoneInfo(settings.service.timezone)).date()
        deliver_to_maildir(settings.mailbox.path, [incomplete(day, seed=1), two_patients(day)])
        patch.setenv("NMSS_OUTGOING__REPLY_LIMITS__PER_SENDER_PER_DAY", "0")
        invoke("run", "--once")
        patch.delenv("NMSS_OUTGOING__REPLY_LIMITS__PER_SENDER_PER_DAY")
        invoke("users", "add", TEAM, "--role", "team", "--password-stdin", input=PASSWORD + "\n")
        invoke("users", "add", ADMIN, "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    return root / "var"


def two_patients(day: dt.date) -> Scenario:
    """Form 2 about one patient, Form 1 and the MIAT about another, from the first one's pharmacy: the service
    queues it for the team to review."""
    people = [patient(seeded("web-review", n), today=day) for n in range(2)]
    forms = [("form2", people[0]), ("form1", people[1]), ("miat", people[1])]
    raw = referral_email(
        attachments=[
            (FILENAMES[kind], fillable_pdf(kind, complete_values(kind, person, today=day, seed=7)))  # type: ignore[arg-type]
            for kind, person in forms
        ],
        sender=people[0].pharmacy.email,
        subject="NMSS referral",
        date=dt.datetime.combine(day, dt.time(9, 30), tzinfo=ZoneInfo("Europe/London")),
    )
    return Scenario("two_patients", "", raw, "review")


@pytest.fixture
def filled_database(filled: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings (``NMSS_`` names without the prefix) that give a test a copy of the filled database of
    its own: none on SQLite (the file is copied with ``var/``), a fresh copy on PostgreSQL."""
    if chosen_database() == "sqlite":
        yield {}
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"nmss_{uuid.uuid4().hex[:12]}"
    yield {"DATABASE_URL": cluster.copy_database(FILLED_DATABASE, name)}
    cluster.drop_database(name)


@dataclass
class Clock:
    """The workspace's clock, which a test moves on (the idle timeout)."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Workspace:
    app: App
    client: TestClient
    clock: Clock
    root: Path

    def sign_in(self, email: str = TEAM, password: str = PASSWORD) -> None:
        page = self.client.get("/sign-in")
        response = self.client.post(
            "/sign-in", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def service_in(tmp_path: Path, filled: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[App, Clock]:
    """The service's app on a copy of the filled database in ``tmp_path``, with ``NMSS_`` variables ``env``."""
    shutil.copytree(filled, tmp_path / "var")
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NMSS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NMSS_LOG_FORMAT", "json")
    for name, value in env.items():
        monkeypatch.setenv(f"NMSS_{name}", value)
    clock = Clock()
    return bootstrap(load_settings(), clock=clock), clock


@pytest.fixture
def workspace(
    filled: Path, filled_database: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    from intake.web import create_app

    app, clock = service_in(tmp_path, filled, monkeypatch, **filled_database)
    with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
        yield Workspace(app, client, clock, tmp_path)
    app.engine.dispose()
