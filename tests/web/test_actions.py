"""The team's actions through HTTP: tasks needing action, a reply by hand, and what is done to a referral.

Each rule a person could trip over is one test; what the pages change is checked where a person would see it
(the page, the history, the email written by ``run --once``, ``tasks list``).
"""

from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from intake.cli import cli
from rules.calendar import working_days_between
from tests.web.conftest import TEAM, Workspace, csrf_of, invoke
from tests.web.test_governance import first_reference


def reply_task(workspace: Workspace) -> int:
    match = re.search(r'href="/tasks/(\d+)/reply"', workspace.client.get("/tasks").text)
    assert match, "no task offers a reply by hand"
    return int(match.group(1))


def field(html: str, name: str) -> str:
    """The value of input ``name``, or the text of textarea ``name``, as the page shows it (unescaped)."""
    import html as markup

    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<textarea[^>]*name="{name}"[^>]*>\s*(.*?)</textarea>', html, re.DOTALL
    )
    assert found, f"the page has no field {name}"
    return markup.unescape(found.group(1))


def written(root: Path) -> dict[str, EmailMessage]:
    found = {}
    for path in sorted((root / "var/outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), _class=EmailMessage, policy=policy.default)
        assert isinstance(message, EmailMessage)
        found[path.name] = message
    return found


def review_reference(workspace: Workspace) -> str:
    page = workspace.client.get("/?status=review").text
    match = re.search(r'href="/referrals/(NMSS-[A-Z0-9]+)"', page)
    assert match, "no referral is waiting for review"
    return match.group(1)


def post_on(workspace: Workspace, page: str, action: str, **data: str) -> tuple[int, str, str]:
    token = csrf_of(workspace.client.get(page).text)
    response = workspace.client.post(action, data={**data, "csrf_token": token})
    return response.status_code, response.headers.get("location", ""), response.text


# -- needing your action ----------------------------------------------------------------------------------


def test_a_held_back_reply_is_needing_your_action_with_a_reply_prefilled_from_the_automatic_one(
    workspace: Workspace,
) -> None:
    workspace.sign_in()
    tasks = workspace.client.get("/tasks").text
    assert "<title>Needing your action – NMSS workspace</title>" in tasks
    assert "Reply by hand: the automatic reply was held back" in tasks

    page = workspace.client.get(f"/tasks/{reply_task(workspace)}/reply").text

    assert re.fullmatch(r"pharmacy\.fake\w+@nhs\.net", field(page, "to")), "the referrer's address on the forms"
    assert re.fullmatch(
        r"Your referral to the .+ - more information needed - reference NMSS-[A-Z0-9]+", field(page, "subject")
    )
    body = field(page, "body")
    assert "We cannot start this referral yet because some information is missing" in body
    assert '"Date of birth"' in body, "the problems the held-back reply would have named"


def test_a_reply_by_hand_goes_out_once_through_the_outbox_and_closes_its_task(workspace: Workspace) -> None:
    workspace.sign_in()
    task = reply_task(workspace)
    page = workspace.client.get(f"/tasks/{task}/reply").text
    values = {name: field(page, name) for name in ("to", "subject", "body")}
    values["body"] += "\nYou can also call us on the number below.\n"
    before = written(workspace.root)

    first = workspace.client.post(f"/tasks/{task}/reply", data={**values, "csrf_token": csrf_of(page)})
    again = workspace.client.post(f"/tasks/{task}/reply", data={**values, "csrf_token": csrf_of(page)})
    invoke("run", "--once")

    assert (first.status_code, first.headers["location"]) == (303, "/tasks")
    assert (again.status_code, again.headers["location"]) == (303, "/tasks")
    tasks = workspace.client.get("/tasks").text
    assert "This reply was sent already" in tasks
    assert f"/tasks/{task}/reply" not in tasks
    new = {name: message for name, message in written(workspace.root).items() if name not in before}
    [reply] = new.values()
    assert (reply["To"], reply["Subject"]) == (values["to"], values["subject"])
    assert "You can also call us on the number below." in reply.get_content()
    assert reply["Auto-Submitted"] is None, "a person wrote it"
    [done] = [t for t in json.loads(invoke("tasks", "list", "--all", "--json")) if t["id"] == task]
    assert (done["resolved_by"], done["note"]) == (TEAM, f"Replied by hand to {values['to']}")


def test_a_reply_by_hand_needs_one_real_address_that_is_not_ours_and_a_one_line_subject(
    workspace: Workspace,
) -> None:
    workspace.sign_in()
    task = reply_task(workspace)
    page = workspace.client.get(f"/tasks/{task}/reply").text
    values = {name: field(page, name) for name in ("to", "subject", "body")}
    cases = {
        ("to", "Pharmacy <someone@nhs.net>"): "Enter the referrer&#39;s email address",
        ("to", "a@nhs.net, b@nhs.net"): "Enter the referrer&#39;s email address",
        ("to", "=?utf-8?q?x?=@nhs.net"): "Enter the referrer&#39;s email address",
        ("to", workspace.app.settings.service.address.upper()): "Enter the referrer&#39;s email address",
        ("subject", "Line one\r\nBcc: everyone@example.com"): "Enter a subject of one line",
        ("subject", " "): "Enter a subject of one line",
        ("body", "  "): "Enter the text of the reply",
    }
    for (name, value), message in cases.items():
        response = workspace.client.post(
            f"/tasks/{task}/reply", data={**values, name: value, "csrf_token": csrf_of(page)}
        )
        assert response.status_code == 400, (name, value)
        assert message in response.text
        assert "<title>Error: Reply by hand – NMSS workspace</title>" in response.text
    assert f"/tasks/{task}/reply" in workspace.client.get("/tasks").text, "nothing was sent, the task is open"


def test_a_task_is_resolved_with_a_note(workspace: Workspace) -> None:
    workspace.sign_in()
    task = reply_task(workspace)

    blank = post_on(workspace, "/tasks", f"/tasks/{task}/done", note="  ")
    done = post_on(workspace, "/tasks", f"/tasks/{task}/done", note="Phoned the pharmacy instead")
    twice = post_on(workspace, "/tasks", f"/tasks/{task}/done", note="Again")
    after = workspace.client.get("/tasks").text
    unknown = post_on(workspace, "/tasks", "/tasks/999/done", note="Nothing")

    assert blank[0] == 400
    assert "Enter what was done" in blank[2]
    assert done[:2] == (303, "/tasks")
    assert twice[:2] == (303, "/tasks")
    assert "That task was already done." in after
    assert unknown[0] == 404
    assert "No task has this number" in unknown[2]
    assert workspace.client.get(f"/tasks/{task}/reply").status_code == 303, "a done task offers no reply"
    assert workspace.client.get("/tasks/999/reply").status_code == 404


# -- a referral's actions ---------------------------------------------------------------------------------


def test_a_referral_for_review_is_accepted_with_a_priority_and_joins_the_queue(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = review_reference(workspace)
    page = f"/referrals/{reference}"

    missing = post_on(workspace, page, f"{page}/accept")
    accepted = post_on(workspace, page, f"{page}/accept", priority="soon")
    again = post_on(workspace, page, f"{page}/accept", priority="urgent")

    assert missing[0] == 400
    assert "Choose how soon the patient should be seen" in missing[2]
    assert accepted[:2] == (303, page)
    assert again[:2] == (303, page)
    text = workspace.client.get(page).text
    assert "This referral is not waiting for review: nothing was changed." in text
    assert f"Accepted from review by {TEAM}, priority soon" in text
    assert reference in workspace.client.get("/?priority=soon").text
    assert reference not in workspace.client.get("/?status=review").text


def test_a_declined_referral_leaves_the_queue_and_the_digest_with_its_reason_in_its_history(
    workspace: Workspace,
) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    page = f"/referrals/{reference}"

    blank = post_on(workspace, page, f"{page}/decline", reason=" ")
    declined = post_on(workspace, page, f"{page}/decline", reason="The patient has moved out of Norfolk")
    twice = post_on(workspace, page, f"{page}/decline", reason="Again")

    assert blank[0] == 400
    assert "Enter why the referral is declined" in blank[2]
    assert declined[:2] == (303, page)
    assert twice[:2] == (303, page)
    text = workspace.client.get(page).text
    assert f"Declined by {TEAM}" in text
    assert f"Why it was declined ({TEAM}): The patient has moved out of Norfolk" in text
    assert "Record the home assessment" not in text
    assert reference not in workspace.client.get("/").text
    assert reference not in invoke("digest", "--print")


def test_a_note_joins_the_history_and_a_blank_one_is_one_clear_line(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    page = f"/referrals/{reference}"

    blank = post_on(workspace, page, f"{page}/notes", note="")
    added = post_on(workspace, page, f"{page}/notes", note="Daughter prefers a call after 3pm")
    unknown = post_on(workspace, page, "/referrals/NMSS-NOSUCH00/notes", note="x")

    assert (blank[0], blank[2].count("Enter the note")) == (400, 2)  # the summary and the field
    assert added[:2] == (303, page)
    assert f"Note by {TEAM}: Daughter prefers a call after 3pm" in workspace.client.get(page).text
    assert unknown[0] == 404


def test_every_referral_action_needs_its_token(workspace: Workspace) -> None:
    workspace.sign_in()
    reference = first_reference(workspace)
    for action in ("accept", "decline", "notes"):
        response = workspace.client.post(f"/referrals/{reference}/{action}", data={"note": "x", "reason": "x"})
        assert response.status_code == 403, action
    assert workspace.client.post(f"/tasks/{reply_task(workspace)}/reply", data={}).status_code == 403
    assert "Declined" not in workspace.client.get(f"/referrals/{reference}").text


# -- lists ------------------------------------------------------------------------------------------------


def test_waiting_on_referrers_lists_incomplete_submissions_with_their_age_in_working_days(
    workspace: Workspace,
) -> None:
    workspace.sign_in()
    page = workspace.client.get("/waiting-on-referrers").text
    assert "<title>Waiting on referrers – NMSS workspace</title>" in page
    rows = re.findall(r"<tr class=\"nhsuk-table__row\">\s*<td[^>]*>(NMSS-[A-Z0-9]+)</td>", page)
    assert len(rows) == 2, "the sample incomplete referral and the one whose reply was held back"
    assert "Working days waiting" in page

    zone = ZoneInfo(workspace.app.settings.service.timezone)
    received = workspace.clock.now.astimezone(zone).date()  # both arrived as the test's database was filled
    workspace.clock.advance(days=14)
    workspace.sign_in()
    later = workspace.client.get("/waiting-on-referrers").text
    ages = [int(a) for a in re.findall(r"nhsuk-table__cell--numeric\">(\d+)</td>", later)]
    expected = working_days_between(received, workspace.clock.now.astimezone(zone).date())
    assert ages == [expected, expected]
    assert 8 <= expected <= 10, "two weeks are ten working days, less any bank holidays"


def test_mar_registrations_are_listed_and_open_on_their_own_page(workspace: Workspace) -> None:
    workspace.sign_in()
    page = workspace.client.get("/mar-registrations").text
    assert "1 MAR chart registration, oldest first" in page
    match = re.search(r'href="/referrals/(NMSS-[A-Z0-9]+)"', page)
    assert match
    registration = workspace.client.get(f"/referrals/{match.group(1)}").text
    assert "Record the home assessment" not in registration
    assert "Decline the referral" not in registration


def test_the_cli_accepts_declines_and_notes_into_the_same_history(workspace: Workspace) -> None:
    workspace.sign_in()
    review = review_reference(workspace)
    reference = first_reference(workspace)

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["referrals", *args])
        return result.exit_code, result.stdout, result.stderr

    accepted = run("accept", review, "--priority", "routine", "--by", "alice@nhs.net")
    noted = run("note", reference, "Asked for a Welsh-speaking pharmacist", "--by", "alice@nhs.net")
    declined = run("decline", reference, "--reason", "Already under another service", "--by", "bob")
    again = run("decline", reference, "--reason", "Again")
    unknown = run("note", "NMSS-NOSUCH00", "x")

    assert accepted[:2] == (0, f"{review}: accepted into the queue as routine.\n")
    assert noted[:2] == (0, f"{reference}: note added.\n")
    assert declined[:2] == (0, f"{reference}: declined.\n")
    assert (again[0], again[2]) == (1, f"Error: {reference} is no longer open: it was declined or assessed\n")
    assert (unknown[0], unknown[2]) == (1, "Error: no referral has reference NMSS-NOSUCH00\n")
    accepted_page = workspace.client.get(f"/referrals/{review}").text
    assert "Accepted from review by alice@nhs.net, priority routine" in accepted_page
    history = workspace.client.get(f"/referrals/{reference}").text
    assert "Note by alice@nhs.net: Asked for a Welsh-speaking pharmacist" in history
    assert "Why it was declined (bob): Already under another service" in history
