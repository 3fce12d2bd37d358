"""A service on its embedded defaults in a temporary folder, driven through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import ProgrammingError

from config import load_form_definitions
from intake.cli import cli
from intake.store import make_engine
from parsers import parse_document
from parsers.mail import read_mail
from samples.scenarios import Scenario, all_scenarios
from tests.conftest import is_sqlite

LONDON = ZoneInfo("Europe/London")


@dataclass
class Service:
    """A working folder with ``var/`` inside, as a fresh install sees it, and a way to run commands there."""

    root: Path
    dependencies: dict[str, Any] = field(default_factory=dict)
    """What the next commands' app is built with instead of the default (``bootstrap``'s keywords): faults."""
    database_url: str = ""
    """Its database: empty, SQLite in ``var/nmss.db`` as the embedded defaults have it; otherwise the URL
    ``NMSS_DATABASE_URL`` gives its commands (a fresh PostgreSQL database when ``NMSS_TEST_DATABASE`` says so)."""

    @property
    def database(self) -> str:
        """The database's URL as a process in any folder reaches it."""
        return self.database_url or f"sqlite:///{self.root}/var/nmss.db"

    @property
    def on_sqlite(self) -> bool:
        return self.database.startswith("sqlite")

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) without any ``NMSS_`` setting but the database, for a
        command run as a separate process as a fresh install would run it."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("NMSS_")}
        return env | ({"NMSS_DATABASE_URL": self.database_url} if self.database_url else {})

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine on the service's database, to read what its commands wrote."""
        engine = make_engine(self.database)
        try:
            yield engine
        finally:
            engine.dispose()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows ``sql`` selects, read as another process would while commands run; [] until the table is
        there. Creates nothing: a SQLite file is opened read-only, and only once it exists."""
        if self.on_sqlite:
            database = self.root / "var" / "nmss.db"
            if not database.exists():
                return []
            try:
                with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as connection:
                    return list(connection.execute(sql).fetchall())
            except sqlite3.OperationalError:  # no table yet
                return []
        try:
            with self.engine() as engine, engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql))]
        except ProgrammingError:  # no table yet
            return []

    def has_database(self) -> bool:
        """Whether any command has made the database: the SQLite file exists, or a table exists in it."""
        if self.on_sqlite:
            return (self.root / "var" / "nmss.db").exists()
        with self.engine() as engine:
            return bool(inspect(engine).get_table_names())

    @property
    def mailbox(self) -> Path:
        return self.root / "var" / "mailbox"

    @property
    def outbox(self) -> Path:
        return self.root / "var" / "outbox"

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, obj=dict(self.dependencies))

    def folder_counts(self) -> dict[str, int]:
        return {
            folder.name[1:]: len(list((folder / "cur").iterdir()))
            for folder in sorted(self.mailbox.glob(".*"))
            if (folder / "cur").is_dir()
        }

    def inbox(self) -> list[Path]:
        return [p for sub in ("new", "cur") for p in (self.mailbox / sub).glob("*")]


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Service:
    """A fresh install in ``tmp_path``: on the embedded defaults, but for the database the tests run on."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NMSS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NMSS_LOG_FORMAT", "json")
    if is_sqlite(database_url):
        return Service(tmp_path)  # the embedded default, var/nmss.db, which is database_url's file
    monkeypatch.setenv("NMSS_DATABASE_URL", database_url)
    return Service(tmp_path, database_url=database_url)


def today() -> dt.date:
    return dt.datetime.now(LONDON).date()


@pytest.fixture
def scenarios() -> list[Scenario]:
    return all_scenarios(today(), seed=7)


def patient_values(scenarios: list[Scenario]) -> set[str]:
    """Every patient value the sample emails carry, as it could appear in text: names, NHS numbers, dates of
    birth, addresses, postcodes, telephone numbers, and the subjects that carry them."""
    definitions = load_form_definitions()
    values: set[str] = set()
    for scenario in scenarios:
        mail = read_mail(scenario.raw)
        for attachment in mail.attachments:
            document = parse_document(attachment.data, attachment.filename, definitions, today=today())
            for key, value in getattr(document, "fields", {}).items():
                if not key.startswith("patient.") or isinstance(value, bool):
                    continue
                if isinstance(value, dt.date):
                    values.update({value.isoformat(), value.strftime("%d/%m/%Y")})
                elif isinstance(value, str):
                    values.add(value)
                    values.update(line.strip() for line in value.splitlines() if len(line.strip()) > 3)
                    if key == "patient.nhs_number":
                        values.add(f"{value[:3]} {value[3:6]} {value[6:]}")
    return {v for v in values if v and v not in {"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Other"}}


def log_events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]
