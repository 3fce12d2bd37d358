"""The workspace as a person uses it, in a real browser, and every page checked by axe-core (WCAG 2.2 AA).

Screenshots of each page go to this test's temporary folder (printed at the end), never into the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from intake.web import create_app
from tests.web.browser import axe_violations, chromium, serving
from tests.web.conftest import ADMIN, PASSWORD, TEAM, service_in


@pytest.fixture
def site(filled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    app, _clock = service_in(tmp_path, filled, monkeypatch)
    with serving(create_app(app)) as url:
        yield url
    app.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def sign_in(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals to assess")


def csp_errors(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m]


def test_the_main_journey(site: str, browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    sign_in(page, site, TEAM)
    page.screenshot(path=tmp_path / "queue.png", full_page=True)
    first = page.locator("tbody tr").first
    expect(first.locator("td").nth(2)).to_have_text("Urgent")  # the most urgent first

    first.get_by_role("link").click()
    expect(page).to_have_title(re.compile(r"^Referral NMSS-[A-Z0-9]+ – NMSS workspace$"))
    expect(page.get_by_role("heading", name="Forms")).to_be_visible()
    expect(page.get_by_text(f"Viewed by {TEAM}")).to_be_visible()
    page.screenshot(path=tmp_path / "referral.png", full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert csp_errors(console) == []
    print(f"screenshots: {tmp_path}")


def test_the_workspace_works_with_javascript_off(site: str, browser: Browser) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, site, TEAM)
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Show referrals").click()
    assert "priority=urgent" in page.url
    page.locator("tbody tr a").first.click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()


def test_no_page_has_an_accessibility_violation(site: str, browser: Browser, tmp_path: Path) -> None:
    page = browser.new_context().new_page()
    found: dict[str, list[dict[str, object]]] = {}

    def check(name: str) -> None:
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        found[name] = axe_violations(page)

    page.goto(f"{site}/sign-in")
    check("sign-in")
    page.get_by_role("button", name="Sign in").click()
    check("sign-in-errors")
    sign_in(page, site, ADMIN)
    check("queue")
    page.locator("tbody tr a").first.click()
    check("referral")
    page.goto(f"{site}/service")
    check("service")
    page.goto(f"{site}/referrals/NMSS-NOSUCH00")
    check("not-found")

    assert {name: v for name, v in found.items() if v} == {}
    print(f"screenshots: {tmp_path}")
