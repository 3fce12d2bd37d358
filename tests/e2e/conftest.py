"""A service on its embedded defaults in a temporary folder, driven through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from config import load_form_definitions
from intake.cli import cli
from parsers import parse_document
from parsers.mail import read_mail
from samples.scenarios import Scenario, all_scenarios

LONDON = ZoneInfo("Europe/London")


@dataclass
class Service:
    """A working folder with ``var/`` inside, as a fresh install sees it, and a way to run commands there."""

    root: Path
    dependencies: dict[str, Any] = field(default_factory=dict)
    """What the next commands' app is built with instead of the default (``bootstrap``'s keywords): faults."""

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
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NMSS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NMSS_LOG_FORMAT", "json")
    return Service(tmp_path)


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
