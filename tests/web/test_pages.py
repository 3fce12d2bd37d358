"""The pages' actions through HTTP: what a person's mistakes read as, and what the pages change."""

from __future__ import annotations

import datetime as dt

from tests.web.conftest import Workspace, csrf_of
from tests.web.test_governance import first_reference


def assess(workspace: Workspace, reference: str, day: str, month: str, year: str) -> tuple[int, str]:
    page = workspace.client.get(f"/referrals/{reference}")
    response = workspace.client.post(
        f"/referrals/{reference}/assessment",
        data={"assessed[day]": day, "assessed[month]": month, "assessed[year]": year, "csrf_token": csrf_of(page.text)},
    )
    return response.status_code, response.text


def test_an_assessment_date_that_is_blank_unreal_or_in_the_future_is_one_clear_line(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    tomorrow = workspace.clock.now.date() + dt.timedelta(days=1)

    cases = {
        ("", "", ""): "Enter the date of the home assessment",
        ("31", "2", "2026"): "The date of the home assessment must be a real date",
        ("1", "1", "99999999999999999999"): "The date of the home assessment must be a real date",
        (str(tomorrow.day), str(tomorrow.month), str(tomorrow.year)): "must be today or in the past",
        ("1", "1", "2020"): "must be on or after the day the referral arrived",
    }
    for (day, month, year), message in cases.items():
        status, text = assess(workspace, reference, day, month, year)
        assert status == 400
        assert message in text
        assert f"<title>Error: Referral {reference} – NMSS workspace</title>" in text
    assert "Assessed" not in workspace.client.get(f"/referrals/{reference}").text


def test_an_assessed_referral_leaves_the_queue_and_shows_its_calls(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    today = workspace.clock.now.date()

    response = workspace.client.post(
        f"/referrals/{reference}/assessment",
        data={
            "assessed[day]": str(today.day),
            "assessed[month]": str(today.month),
            "assessed[year]": str(today.year),
            "csrf_token": csrf_of(workspace.client.get("/").text),
        },
    )

    assert (response.status_code, response.headers["location"]) == (303, f"/referrals/{reference}")
    page = workspace.client.get(f"/referrals/{reference}").text
    assert "Home assessment recorded on" in page
    assert "6 weeks call" in page
    assert reference not in workspace.client.get("/").text


def test_a_follow_up_call_needs_an_outcome(workspace: Workspace) -> None:
    workspace.sign_in()
    calls = workspace.client.get("/follow-up-calls")
    response = workspace.client.post("/follow-up-calls/1", data={"outcome": " ", "csrf_token": csrf_of(calls.text)})
    assert response.status_code == 400
    missing = workspace.client.post("/follow-up-calls/999", data={"outcome": "x", "csrf_token": csrf_of(calls.text)})
    assert missing.status_code == 404
    assert "No follow-up call has this number" in missing.text


def test_a_referral_purged_under_retention_shows_as_purged(workspace: Workspace) -> None:
    from intake.bootstrap import retention_periods
    from intake.commands import purge, record_assessment, record_call

    workspace.sign_in()
    reference = first_reference(workspace)
    services = workspace.app.services
    now = workspace.clock.now
    with services.unit_of_work() as uow:
        record_assessment(uow, reference, now.date(), today=now.date(), now=now)
    with services.unit_of_work() as uow:
        referral = uow.queue.by_reference(reference)
        assert referral is not None
        assert referral.id is not None
        referral_id, number = referral.id, referral.nhs_number
        calls = [call.id for call in uow.followups.calls_of(referral.id).values()]
    assert number
    for call_id in calls:
        assert call_id is not None
        with services.unit_of_work() as uow:
            record_call(uow, call_id, "Called: all well", now=now)
    with services.unit_of_work() as uow:
        plan = purge(
            uow,
            retention_periods(workspace.app.settings),
            today=now.date() + dt.timedelta(days=366),
            now=now,
            tz=services.timezone,
        )
    assert plan.referrals == (referral_id,)

    response = workspace.client.get(f"/referrals/{reference}")

    assert response.status_code == 200
    assert "Details purged" in response.text
    assert "The values read from this form were purged" in response.text
    assert "(purged under the retention settings)" in response.text  # the team's notes on its calls
    assert number not in response.text.replace(" ", "")


def test_the_health_probes_answer_without_signing_in_and_name_no_patient(workspace: Workspace) -> None:
    assert workspace.client.get("/healthz").json() == {"alive": True}

    # The sample mail was read when the session began; a day on, that poll is stale and the mailbox not ready.
    workspace.clock.advance(days=1)
    stale = workspace.client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["database"] == "ok"
    assert stale.json()["checks"]["mailbox:intake"] == "no good poll for over 600 seconds"
    assert "set-cookie" not in stale.headers
