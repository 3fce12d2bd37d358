"""Mailbox health: `status` shows each mailbox's polls, errors, backlog and token; the team hears of an outage once."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from config.settings import load_settings
from intake.bootstrap import App, bootstrap
from intake.daemon import poll_once
from intake.migrate import upgrade
from samples.scenarios import Scenario, deliver_to_maildir

from .conftest import Service, patient_values

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TEAM = "nmss.team@nhs.net"


class Clock:
    """The service's clock, moved on by the test a poll at a time."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(service: Service, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("NMSS_SERVICE__TEAM_ADDRESSES", json.dumps([TEAM]))
    monkeypatch.setenv("NMSS_HEALTH__ALERT_AFTER_FAILURES", "3")
    app = bootstrap(load_settings(), clock=clock)
    upgrade(app.engine)
    return app


def break_mailbox(service: Service) -> None:
    """A Maildir path that is a file: every poll fails as an unreachable server would."""
    if service.mailbox.is_dir():
        shutil.rmtree(service.mailbox)
    service.mailbox.parent.mkdir(parents=True, exist_ok=True)
    service.mailbox.write_bytes(b"")


def polls(app: App, clock: Clock, count: int) -> None:
    for _ in range(count):
        clock.now += dt.timedelta(minutes=1)
        poll_once(app)


def team_mail(service: Service) -> list[EmailMessage]:
    found = []
    for path in sorted(service.outbox.glob("mailbox_*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def test_status_on_a_new_install_shows_the_mailbox_never_polled(service: Service) -> None:
    result = service.invoke("status")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "Mailbox intake",
        "  last successful poll  never",
        "  last error            none",
    ]
    assert "No message is quarantined." in result.stdout


def test_after_repeated_failures_the_team_is_emailed_once(service: Service, app: App, clock: Clock) -> None:
    break_mailbox(service)

    polls(app, clock, 2)
    assert team_mail(service) == [], "two failures may be a blip"
    polls(app, clock, 5)

    [alert] = team_mail(service)
    assert alert["To"] == TEAM
    assert alert["Subject"] == "NMSS Intake cannot read mailbox intake"
    assert alert["Auto-Submitted"] == "auto-generated"
    assert "3 times in a row, since 02 March 2026 09:01 UTC" in alert.get_content()
    assert "MailboxUnavailable" in alert.get_content()


def test_status_shows_the_outage_the_backlog_and_that_the_team_knows(service: Service, app: App, clock: Clock) -> None:
    break_mailbox(service)
    polls(app, clock, 4)

    status = json.loads(service.invoke("status", "--json").stdout)
    text = service.invoke("status").stdout

    assert status["mailboxes"] == [
        {
            "mailbox": "intake",
            "last_success_at": None,
            "last_error": "MailboxUnavailable",
            "last_error_at": "2026-03-02T09:04:00+00:00",
            "consecutive_failures": 4,
            "backlog": 0,
            "quarantined": 0,
            "token_expires_at": None,
            "alerted": True,
        }
    ]
    assert status["outbox_pending"] == 0, "the alert went out in the same poll"
    assert "  failures in a row     4 (the team has been emailed)" in text
    assert "  last error            MailboxUnavailable at 2026-03-02 09:04:00 GMT" in text


@pytest.mark.parametrize(
    ("timezone", "shown"),
    [("Europe/London", "2026-07-06 10:04:00 BST"), ("Asia/Kolkata", "2026-07-06 14:34:00 IST")],
)
def test_status_shows_times_where_the_team_works(
    service: Service, app: App, clock: Clock, monkeypatch: pytest.MonkeyPatch, timezone: str, shown: str
) -> None:
    clock.now = dt.datetime(2026, 7, 6, 9, 0, tzinfo=dt.UTC)  # summer: London is an hour ahead of UTC
    break_mailbox(service)
    polls(app, clock, 4)
    monkeypatch.setenv("NMSS_SERVICE__TIMEZONE", timezone)

    text = service.invoke("status").stdout

    assert f"  last error            MailboxUnavailable at {shown}" in text


def test_the_team_is_told_once_when_the_mailbox_recovers_and_again_at_the_next_outage(
    service: Service, app: App, clock: Clock
) -> None:
    break_mailbox(service)
    polls(app, clock, 3)
    service.mailbox.unlink()

    polls(app, clock, 3)
    break_mailbox(service)
    polls(app, clock, 3)

    subjects = [m["Subject"] for m in team_mail(service)]
    assert sorted(subjects) == [
        "NMSS Intake cannot read mailbox intake",
        "NMSS Intake cannot read mailbox intake",
        "NMSS Intake is reading mailbox intake again",
    ]
    status = json.loads(service.invoke("status", "--json").stdout)["mailboxes"][0]
    assert status["last_success_at"] == "2026-03-02T09:06:00+00:00"
    assert status["consecutive_failures"] == 3


def test_a_good_poll_is_recorded_and_the_alerts_carry_no_patient_data(
    service: Service, app: App, clock: Clock, scenarios: list[Scenario]
) -> None:
    break_mailbox(service)
    polls(app, clock, 3)
    service.mailbox.unlink()
    deliver_to_maildir(service.mailbox, scenarios)

    polls(app, clock, 1)

    status = json.loads(service.invoke("status", "--json").stdout)["mailboxes"][0]
    assert (status["last_success_at"], status["consecutive_failures"], status["backlog"]) == (
        "2026-03-02T09:04:00+00:00",
        0,
        0,
    )
    text = "\n".join(m.as_string() for m in team_mail(service))
    assert not [value for value in patient_values(scenarios) if value in text]


def test_without_a_team_address_an_outage_still_becomes_a_team_task(
    service: Service, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = bootstrap(load_settings(), clock=clock)
    upgrade(app.engine)
    break_mailbox(service)

    polls(app, clock, 3)

    assert team_mail(service) == []
    assert json.loads(service.invoke("status", "--json").stdout)["mailboxes"][0]["alerted"] is True
    [task] = json.loads(service.invoke("tasks", "list", "--json").stdout)
    assert task["action"].startswith("restore access to mailbox intake: it could not be read 3 times in a row")


def test_each_outage_makes_exactly_one_task_however_long_it_lasts(service: Service, app: App, clock: Clock) -> None:
    break_mailbox(service)
    polls(app, clock, 6)
    service.mailbox.unlink()
    polls(app, clock, 1)
    break_mailbox(service)
    polls(app, clock, 4)

    tasks = json.loads(service.invoke("tasks", "list", "--json").stdout)

    assert [task["kind"] for task in tasks] == ["mailbox_down", "mailbox_down"]
    digest = service.invoke("digest", "--print", "--today", "2026-03-02").stdout
    assert "NEEDING YOUR ACTION (2)" in digest
