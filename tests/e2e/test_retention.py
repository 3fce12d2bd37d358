"""Retention through the CLI: `purge` removes what is closed long enough, keeps everything still open, audits
each purge, says counts only, and `--dry-run` changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest
import time_machine
from sqlmodel import Session, col, select

from config.settings import load_settings
from intake.bootstrap import App, bootstrap
from intake.repositories.retention import PURGED_NOTE
from intake.store import (
    AuditEvent,
    FollowUpRecord,
    FormFile,
    FormRecord,
    OutboxRecord,
    QuarantineRecord,
    ReferralRecord,
)
from samples.scenarios import Scenario, accepted, deliver_to_maildir

from .conftest import LONDON, Service, patient_values, today
from .test_replay import crash_on, quarantined_ids


def database_dump(service: Service) -> list[str]:
    with sqlite3.connect(service.root / "var" / "nmss.db") as connection:
        return list(connection.iterdump())


def queue(service: Service) -> dict[str, dict[str, object]]:
    result = service.invoke("referrals", "list", "--json")
    assert result.exit_code == 0, result.output
    return {item["reference"]: item for item in json.loads(result.stdout)}


def invoke_on(service: Service, day: dt.date, *args: str) -> str:
    """Run a command as if on ``day`` (at noon where the team works)."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(12), LONDON), tick=True):
        result = service.invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def message_ids(app: App, *references: str) -> set[int]:
    with Session(app.engine) as session:
        rows = session.exec(select(ReferralRecord).where(col(ReferralRecord.reference).in_(references))).all()
    return {row.message_id for row in rows}


def close_referral(service: Service, reference: str) -> None:
    """Record the home assessment today and every follow-up call as made: the referral is closed today."""
    assert service.invoke("referrals", "assessed", reference, "--date", today().isoformat()).exit_code == 0
    due = json.loads(service.invoke("followups", "due", "--json", "--today", "2099-01-01").stdout)
    calls = [call["id"] for call in due if call["reference"] == reference]
    assert len(calls) == 3
    for call in calls:
        assert (
            service.invoke("followups", "done", str(call), "--outcome", "Called the patient: all well").exit_code == 0
        )


@pytest.fixture
def taken(service: Service, scenarios: list[Scenario]) -> tuple[list[Scenario], Scenario]:
    """Every sample taken by a run, plus one more accepted referral the pipeline crashed on (quarantined)."""
    bad = accepted(today(), seed=99)
    deliver_to_maildir(service.mailbox, [*scenarios, bad])
    crash_on(service, bad.raw)
    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    service.dependencies.clear()
    return scenarios, bad


def test_purge_removes_only_what_is_closed_long_enough_and_audits_each_purge(
    service: Service, taken: tuple[list[Scenario], Scenario]
) -> None:
    scenarios, _ = taken
    referrals = queue(service)
    closed, still_open = sorted(r for r, item in referrals.items() if item["kind"] == "referral")
    [mar] = [r for r, item in referrals.items() if item["kind"] == "mar_registration"]
    close_referral(service, closed)

    # A month on: the emails sent are copies to purge; nothing else is due yet.
    month = invoke_on(service, today() + dt.timedelta(days=31), "purge")
    assert "Purged:" in month
    assert "0  referrals' patient details" in month
    app = bootstrap(load_settings())
    with Session(app.engine) as session:
        emails = session.exec(select(OutboxRecord)).all()
    assert emails
    assert all(e.state == "sent" and e.raw == b"" and e.purged_at is not None for e in emails)
    assert f"{len(emails)}  sent emails" in month

    # A year on: the closed referral's details and the forms of submissions that never became a referral go.
    year = invoke_on(service, today() + dt.timedelta(days=366), "purge")
    assert "1  referrals' patient details" in year
    after = queue(service)
    assert after[closed]["purged"] is True
    assert (after[closed]["nhs_number"], after[closed]["surname"], after[closed]["date_of_birth"]) == (None,) * 3
    # Still open: a referral not yet assessed, and a MAR chart registration (nothing closes one yet).
    for reference in (still_open, mar):
        assert after[reference]["purged"] is False
        assert str(after[reference]["nhs_number"]).startswith("999")
    listing = service.invoke("referrals", "list").stdout
    assert "(details purged)" in listing

    # The quarantined message has its team task open: its copy stays, whatever its age.
    [ledger_id] = quarantined_ids(service)
    with Session(app.engine) as session:
        copy = session.get(QuarantineRecord, ledger_id)
        assert copy is not None
        assert copy.raw
        assert copy.purged_at is None
        audit = session.exec(select(AuditEvent).where(col(AuditEvent.event).contains("purge"))).all()
        forms_left = session.exec(select(FormRecord).where(FormRecord.fields_json != "{}")).all()
        calls = session.exec(select(FollowUpRecord)).all()
        originals = session.exec(
            select(FormRecord.message_id, FormFile.content, FormFile.purged_at).join(
                FormFile, col(FormFile.form_id) == col(FormRecord.id)
            )
        ).all()
    assert calls
    # The documents' originals: gone with the closed referral's copies, kept (bytes and all) while it is open.
    open_ids = message_ids(app, still_open, mar)
    assert originals
    assert all(content and purged_at is None for mid, content, purged_at in originals if mid in open_ids)
    closed_ids = message_ids(app, closed)
    assert closed_ids
    assert all(content is None and purged_at is not None for mid, content, purged_at in originals if mid in closed_ids)
    assert {call.outcome for call in calls} == {PURGED_NOTE}, "the team's notes on a purged referral's calls go too"
    events = {e.event for e in audit}
    assert {"sent_email_purged", "form_fields_purged", "patient_details_purged", "retention_purge"} <= events
    assert len([e for e in audit if e.event == "sent_email_purged"]) == len(emails)
    # What keeps its values: the open referral's and the MAR registration's forms only.
    assert {f.message_id for f in forms_left} == message_ids(app, still_open, mar)

    # Nothing a purge says, or audits, names a patient.
    said = month + year + " ".join(e.detail for e in audit)
    assert not {value for value in patient_values(scenarios) if value in said}

    # Once the team has dealt with the quarantined message, its copy goes a month later, and replay says so.
    [task] = [t for t in json.loads(service.invoke("tasks", "list", "--json").stdout) if t["kind"] == "quarantined"]
    assert service.invoke("tasks", "done", str(task["id"]), "--note", "Handled from the folder").exit_code == 0
    later = invoke_on(service, today() + dt.timedelta(days=400), "purge")
    assert "1  copies of incoming messages" in later
    replay = service.invoke("replay", str(ledger_id))
    assert replay.exit_code == 1
    assert "purged" in replay.output
    assert "Traceback" not in replay.output
    assert len(replay.output.strip().splitlines()) == 1

    # Everything due is done: another purge finds nothing and audits nothing.
    assert "Nothing is due" in invoke_on(service, today() + dt.timedelta(days=400), "purge")


def test_dry_run_prints_the_counts_and_changes_nothing(
    service: Service, taken: tuple[list[Scenario], Scenario]
) -> None:
    scenarios, _ = taken
    closed = sorted(r for r, item in queue(service).items() if item["kind"] == "referral")[0]
    close_referral(service, closed)
    before = database_dump(service)

    output = invoke_on(service, today() + dt.timedelta(days=366), "purge", "--dry-run")

    assert "Would purge:" in output
    assert "Nothing was changed (--dry-run)." in output
    assert "1  referrals' patient details" in output
    assert database_dump(service) == before
    assert not {value for value in patient_values(scenarios) if value in output}


def test_purge_on_a_new_service_finds_nothing_due(service: Service) -> None:
    result = service.invoke("purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Nothing is due for purging (copies after 30 days, patient details after 365 days)")
