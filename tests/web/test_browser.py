"""The workspace as a person uses it, in a real browser, and every page checked by axe-core (WCAG 2.2 AA).

Screenshots of each page go to this test's temporary folder (printed at the end), never into the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from intake.web import create_app
from tests.web.browser import axe_violations, chromium, serving
from tests.web.conftest import ADMIN, PASSWORD, TEAM, Clock, service_in


@dataclass
class Site:
    url: str
    clock: Clock


@pytest.fixture
def site(
    filled: Path, filled_database: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    app, clock = service_in(tmp_path, filled, monkeypatch, **filled_database)
    with serving(create_app(app)) as url:
        yield Site(url, clock)
    app.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def sign_in(page: Page, site: Site, email: str) -> None:
    page.goto(f"{site.url}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals to assess")


def see_field_on_its_page(page: Page, tmp_path: Path) -> None:
    """Open the first field's page picture: the page, drawn, with the value's place marked and named."""
    field = page.locator("details.nhsuk-details").first
    field.locator("summary").click()
    picture = field.get_by_role("img", name=re.compile(r"^Page \d+ of .+ as it was sent, with “.+” marked$"))
    expect(picture).to_be_visible()
    expect(picture.locator("rect.app-page-picture__mark")).to_have_count(1)
    href = picture.locator("image").get_attribute("href")
    assert href is not None
    assert page.evaluate("href => fetch(href).then(r => r.headers.get('content-type'))", href) == "image/png"
    field.screenshot(path=tmp_path / "field-on-its-page.png")


def csp_errors(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m]


def test_the_main_journey(site: Site, browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    sign_in(page, site, TEAM)
    page.screenshot(path=tmp_path / "queue.png", full_page=True)

    # First what the service could not do itself: a reply held back, answered by hand from its prefilled text.
    page.get_by_role("link", name="Needing your action").click()
    page.get_by_role("link", name=re.compile("^Reply by hand")).first.click()
    expect(page.get_by_label("To", exact=True)).to_have_value(re.compile(r"@nhs\.net$"))
    expect(page.get_by_label("Message")).to_have_value(re.compile("We cannot start this referral yet"))
    page.screenshot(path=tmp_path / "hand-reply.png", full_page=True)
    page.get_by_role("button", name="Send the reply").click()
    expect(
        page.get_by_text(re.compile(r"Your reply to \S+@nhs\.net about NMSS-[A-Z0-9]+ is in the outbox"))
    ).to_be_visible()
    expect(page.get_by_text("Nothing needs your action.")).to_be_visible()

    page.get_by_role("link", name="Queue").click()
    first = page.locator("tbody tr").first
    expect(first.locator("td").nth(2)).to_have_text("Urgent")  # the most urgent first

    first.get_by_role("link").click()
    expect(page).to_have_title(re.compile(r"^Referral NMSS-[A-Z0-9]+ – NMSS workspace$"))
    expect(page.get_by_role("heading", name="Forms")).to_be_visible()
    expect(page.get_by_text(f"Viewed by {TEAM}")).to_be_visible()
    page.screenshot(path=tmp_path / "referral.png", full_page=True)

    see_field_on_its_page(page, tmp_path)

    today = site.clock.now.date()
    page.get_by_label("Day", exact=True).fill(str(today.day))
    page.get_by_label("Month", exact=True).fill(str(today.month))
    page.get_by_label("Year", exact=True).fill(str(today.year))
    page.get_by_role("button", name="Record the home assessment").click()
    expect(page.get_by_text("Home assessment recorded on")).to_be_visible()
    page.screenshot(path=tmp_path / "assessed.png", full_page=True)
    page.get_by_role("link", name="Back to the queue").click()
    expect(page.locator("tbody tr")).to_have_count(2)  # assessed: off the queue (the next and one for review left)

    site.clock.advance(days=50)  # weeks later the 6-week call is due, and the pharmacist signs in again
    sign_in(page, site, TEAM)
    page.get_by_role("link", name="Follow-up calls").click()
    expect(page.get_by_role("heading", name=re.compile("^6 weeks call"))).to_be_visible()
    page.get_by_label("What came of the call").fill("Spoke to the patient: managing well with the new aid.")
    page.get_by_role("button", name="Record the call").click()
    expect(page.get_by_text(re.compile("The 6 weeks call for NMSS-[A-Z0-9]+ is recorded."))).to_be_visible()
    expect(page.get_by_text("No follow-up call is due.")).to_be_visible()

    page.get_by_role("link", name="Reports").click()  # the call, made a week after it was due, was late
    calls = page.get_by_role("table", name="Follow-up calls due in the 12 weeks, by stage")
    six_weeks = calls.get_by_role("row", name=re.compile("^6 weeks"))
    expect(six_weeks.get_by_role("cell")).to_have_text(["1", "0", "1", "0", "0%"])
    page.screenshot(path=tmp_path / "reports.png", full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download follow-up calls made on time (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[:2] == [
        "Follow-up call,Calls due,Made on time,Made late,Not made yet,Made on time (%)",
        "6 weeks,1,0,1,0,0%",
    ]

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert csp_errors(console) == []
    print(f"screenshots: {tmp_path}")


def test_the_workspace_works_with_javascript_off(site: Site, browser: Browser) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, site, TEAM)
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Show referrals").click()
    assert "priority=urgent" in page.url
    page.locator("tbody tr a").first.click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()


def test_no_page_has_an_accessibility_violation(site: Site, browser: Browser, tmp_path: Path) -> None:
    page = browser.new_context().new_page()
    found: dict[str, list[dict[str, object]]] = {}

    def check(name: str) -> None:
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        found[name] = axe_violations(page)

    page.goto(f"{site.url}/sign-in")
    check("sign-in")
    page.get_by_role("button", name="Sign in").click()
    check("sign-in-errors")
    sign_in(page, site, ADMIN)
    check("queue")
    page.locator("tbody tr a").first.click()
    check("referral")
    page.locator("details.nhsuk-details summary").first.click()
    check("referral-page-picture")
    page.get_by_role("button", name="Record the home assessment").click()
    check("referral-error")
    page.get_by_label("Note").fill("")
    page.get_by_role("button", name="Add the note").click()
    check("referral-note-error")
    page.goto(f"{site.url}/?status=review")
    page.locator("tbody tr a").first.click()
    check("referral-for-review")
    page.get_by_role("button", name="Accept into the queue").click()
    check("referral-accept-error")
    page.goto(f"{site.url}/tasks")
    check("needing-your-action")
    page.get_by_role("button", name="Mark as done").first.click()
    check("needing-your-action-error")
    page.get_by_role("link", name=re.compile("^Reply by hand")).first.click()
    check("hand-reply")
    page.get_by_label("To", exact=True).fill("not an address")
    page.get_by_role("button", name="Send the reply").click()
    check("hand-reply-error")
    page.goto(f"{site.url}/waiting-on-referrers")
    check("waiting-on-referrers")
    page.goto(f"{site.url}/mar-registrations")
    check("mar-registrations")
    page.goto(f"{site.url}/follow-up-calls")
    check("follow-up-calls")
    page.goto(f"{site.url}/service")
    check("service")
    page.locator('input[type="file"][name="practice-file"]').set_input_files(
        files=[{"name": "epraccur.csv", "mimeType": "text/csv", "buffer": b"not,an,epraccur,file\r\n"}]
    )
    page.get_by_role("button", name="Upload the practice list").click()
    expect(page.get_by_role("alert")).to_contain_text("The file is not an epraccur file: line 1: 4 columns")
    check("service-upload-error")
    page.goto(f"{site.url}/users")  # the header may fold the admins' links into its "More" menu
    check("users")
    page.get_by_role("button", name="Add the account").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter their email address")
    check("users-error")
    page.get_by_label("Email address").fill("technician@nhs.net")
    page.get_by_label("With a one-time password made now").check()
    page.get_by_role("button", name="Add the account").click()
    expect(page.get_by_text("Their one-time password is")).to_be_visible()
    check("users-added")
    page.goto(f"{site.url}/reports")
    check("reports")
    page.goto(f"{site.url}/referrals/NMSS-NOSUCH00")
    check("not-found")

    assert {name: v for name, v in found.items() if v} == {}
    print(f"screenshots: {tmp_path}")
