"""Home assessments and follow-up calls through the CLI: record, list what is due, mark done."""

from __future__ import annotations

import datetime as dt
import json
import os
from zoneinfo import ZoneInfo

import pytest
import time_machine

from samples.scenarios import all_scenarios, deliver_to_maildir

from .conftest import Service

LONDON = ZoneInfo("Europe/London")
RECEIVED = dt.datetime(2026, 11, 2, 10, 0, tzinfo=LONDON)  # a Monday


@pytest.fixture
def queued(service: Service, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sample emails received on Monday 2 November 2026 and taken; the queue's references by kind and priority."""
    monkeypatch.setenv("NMSS_SERVICE__TEAM_ADDRESSES", '["nmss.team@nhs.net"]')
    with time_machine.travel(RECEIVED, tick=False):
        for path in deliver_to_maildir(service.mailbox, all_scenarios(RECEIVED.date(), seed=11)):
            os.utime(path, (RECEIVED.timestamp(), RECEIVED.timestamp()))
        assert service.invoke("run", "--once").exit_code == 0
        rows = json.loads(service.invoke("referrals", "list", "--json").stdout)
    return {f"{row['kind']}:{row['priority']}": row["reference"] for row in rows}


def at(service: Service, when: dt.datetime, *args: str) -> tuple[int, str]:
    """Run a command at ``when``: its exit code, and what it printed (stdout, or its error line without the log)."""
    with time_machine.travel(when, tick=False):
        result = service.invoke(*args)
    if result.exit_code == 0:
        return 0, result.stdout
    return result.exit_code, "".join(line for line in result.stderr.splitlines(True) if not line.startswith("{"))


def a_referral(queued: dict[str, str]) -> str:
    return next(ref for key, ref in sorted(queued.items()) if key.startswith("referral:"))


def test_recording_an_assessment_schedules_three_calls_on_working_days(
    service: Service, queued: dict[str, str]
) -> None:
    reference = a_referral(queued)

    code, output = at(
        service, RECEIVED + dt.timedelta(days=14), "referrals", "assessed", reference, "--date", "2026-11-13"
    )

    assert code == 0, output
    assert output == (
        f"{reference}: home assessment recorded on Friday 13 November 2026.\n"
        "Follow-up calls due:\n"
        "  6 weeks    Tuesday 29 December 2026\n"  # 25 December + the Boxing Day substitute on the 28th
        "  6 months   Thursday 13 May 2027\n"
        "  12 months  Monday 15 November 2027\n"  # 13 November 2027 is a Saturday
    )


def test_a_call_is_listed_as_due_on_its_day_and_as_overdue_afterwards(service: Service, queued: dict[str, str]) -> None:
    reference = a_referral(queued)
    at(service, RECEIVED + dt.timedelta(days=14), "referrals", "assessed", reference, "--date", "2026-11-13")

    _, before = at(service, RECEIVED, "followups", "due", "--today", "2026-12-24")
    _, on_the_day = at(service, RECEIVED, "followups", "due", "--json", "--today", "2026-12-29")
    _, later = at(service, RECEIVED, "followups", "due", "--json", "--today", "2027-01-04")

    assert before == "No follow-up calls are due on Thursday 24 December 2026.\n"
    [call] = json.loads(on_the_day)
    assert (call["reference"], call["kind"], call["call"], call["due"]) == (reference, "6w", "6 weeks", "2026-12-29")
    assert call["overdue_working_days"] == 0
    assert call["nhs_number"].startswith("999")
    [late] = json.loads(later)
    assert late["overdue_working_days"] == 3  # 30 and 31 December, 4 January: 1 January is a bank holiday


def test_a_call_marked_done_is_no_longer_due_and_cannot_be_marked_twice(
    service: Service, queued: dict[str, str]
) -> None:
    reference = a_referral(queued)
    at(service, RECEIVED + dt.timedelta(days=14), "referrals", "assessed", reference, "--date", "2026-11-13")
    day = dt.datetime(2026, 12, 29, 11, 0, tzinfo=LONDON)
    [call] = json.loads(at(service, day, "followups", "due", "--json")[1])

    code, output = at(service, day, "followups", "done", str(call["id"]), "--outcome", "Managing with the chart")
    again_code, again = at(service, day, "followups", "done", str(call["id"]), "--outcome", "Again")

    assert (code, output) == (0, f"Follow-up call {call['id']} (6 weeks, {reference}) recorded as made.\n")
    assert at(service, day, "followups", "due")[1] == "No follow-up calls are due on Tuesday 29 December 2026.\n"
    assert (again_code, again) == (1, f"Error: follow-up call {call['id']} was recorded as made on 2026-12-29\n")


def test_recording_another_date_moves_the_calls_not_yet_made(service: Service, queued: dict[str, str]) -> None:
    reference = a_referral(queued)
    later = RECEIVED + dt.timedelta(days=10)
    at(service, later, "referrals", "assessed", reference, "--date", "2026-11-05")

    code, output = at(service, later, "referrals", "assessed", reference, "--date", "2026-11-06")
    _, same = at(service, later, "referrals", "assessed", reference, "--date", "2026-11-06")

    assert code == 0
    assert output.startswith(f"{reference}: home assessment moved from Thursday 5 November 2026 to Friday 6 November")
    assert "  6 weeks    Friday 18 December 2026\n" in output
    assert same.startswith(f"{reference}: the home assessment on Friday 6 November 2026 was recorded already.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("NMSS-NOSUCH01", "--date", "2026-11-05"), "Error: no referral has reference NMSS-NOSUCH01\n"),
        ((None, "--date", "2026-12-25"), "Error: the assessment date 2026-12-25 is in the future\n"),
        ((None, "--date", "2026-10-01"), "Error: the assessment date 2026-10-01 is before the referral arrived"),
    ],
)
def test_an_assessment_that_cannot_be_right_is_refused_in_one_line(
    service: Service, queued: dict[str, str], args: tuple[str | None, ...], message: str
) -> None:
    reference = a_referral(queued)
    argv = [reference if a is None else a for a in args]

    code, output = at(service, RECEIVED + dt.timedelta(days=3), "referrals", "assessed", *argv)

    assert code == 1
    assert output.startswith(message)


def test_a_mar_registration_has_no_home_assessment(service: Service, queued: dict[str, str]) -> None:
    mar = next(ref for key, ref in queued.items() if key.startswith("mar_registration"))

    code, output = at(service, RECEIVED + dt.timedelta(days=3), "referrals", "assessed", mar)

    assert (code, output) == (1, f"Error: {mar} is a MAR chart registration: it has no home assessment\n")


def test_marking_an_unknown_call_done_says_so(service: Service, queued: dict[str, str]) -> None:
    code, output = at(service, RECEIVED, "followups", "done", "999", "--outcome", "x")

    assert (code, output) == (1, "Error: no follow-up call has id 999\n")
