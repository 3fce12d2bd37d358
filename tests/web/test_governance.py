"""Information governance through HTTP: sign-in, roles, idle sessions, CSRF, headers and the access audit."""

from __future__ import annotations

import re

from tests.web.conftest import ADMIN, PASSWORD, TEAM, Workspace, csrf_of


def first_reference(workspace: Workspace) -> str:
    match = re.search(r'href="/referrals/(NMSS-[A-Z0-9]+)"', workspace.client.get("/").text)
    assert match, "the queue lists no referral"
    return match.group(1)


def test_a_signed_out_request_goes_to_the_sign_in_page(workspace: Workspace) -> None:
    for path in ("/", "/referrals/NMSS-AAAAAAAA", "/service"):
        response = workspace.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")


def test_a_wrong_password_is_one_clear_line_and_no_session(workspace: Workspace) -> None:
    page = workspace.client.get("/sign-in")
    response = workspace.client.post(
        "/sign-in", data={"email": TEAM, "password": "not the password", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 400
    assert "The email address or password is not right" in response.text
    assert "<title>Error: Sign in – NMSS workspace</title>" in response.text
    assert workspace.client.get("/").status_code == 303


def test_the_team_signs_in_and_sees_the_queue_most_urgent_first(workspace: Workspace) -> None:
    workspace.sign_in()
    page = workspace.client.get("/")
    assert page.status_code == 200
    assert "<title>Queue – NMSS workspace</title>" in page.text
    assert "Referrals to assess" in page.text


def test_a_team_member_cannot_open_an_admin_page(workspace: Workspace) -> None:
    workspace.sign_in(TEAM)
    response = workspace.client.get("/service")
    assert response.status_code == 403
    assert "This page is for the service&#39;s administrators." in response.text


def test_an_admin_opens_the_service_page(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    response = workspace.client.get("/service")
    assert response.status_code == 200
    assert "Mailbox intake" in response.text


def test_a_session_ends_after_the_idle_time(workspace: Workspace) -> None:
    workspace.sign_in()
    workspace.clock.advance(minutes=29)
    assert workspace.client.get("/").status_code == 200  # used: the idle clock starts again
    workspace.clock.advance(minutes=29)
    assert workspace.client.get("/").status_code == 200
    workspace.clock.advance(minutes=31)
    response = workspace.client.get("/")
    assert response.status_code == 303
    page = workspace.client.get(response.headers["location"])
    assert "You were signed out because you had not used the workspace for a while" in page.text
    assert workspace.client.get("/").status_code == 303


def test_a_form_without_its_token_changes_nothing(workspace: Workspace) -> None:
    workspace.sign_in()
    response = workspace.client.post("/sign-out", data={})
    assert response.status_code == 403
    assert "This form has expired" in response.text
    assert workspace.client.get("/").status_code == 200  # still signed in
    forged = workspace.client.post("/sign-in", data={"email": TEAM, "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403


def test_signing_out_ends_the_session(workspace: Workspace) -> None:
    workspace.sign_in()
    page = workspace.client.get("/")
    response = workspace.client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
    assert "You have signed out." in workspace.client.get("/sign-in").text
    assert workspace.client.get("/").status_code == 303


def test_a_reference_that_does_not_exist_is_a_clear_404(workspace: Workspace) -> None:
    workspace.sign_in()
    response = workspace.client.get("/referrals/NMSS-NOSUCH00")
    assert response.status_code == 404
    assert "No referral has this reference" in response.text


def test_every_view_of_a_referral_is_in_its_history(workspace: Workspace) -> None:
    workspace.sign_in(TEAM)
    reference = first_reference(workspace)
    workspace.client.get(f"/referrals/{reference}")
    workspace.sign_in(ADMIN)
    page = workspace.client.get(f"/referrals/{reference}").text
    assert page.count(f"Viewed by {TEAM}") == 1
    assert page.count(f"Viewed by {ADMIN}") == 1
    assert f"<title>Referral {reference} – NMSS workspace</title>" in page


def test_the_cookie_and_headers_are_strict(workspace: Workspace) -> None:
    page = workspace.client.get("/sign-in")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=lax" in cookie
    headers = page.headers
    assert headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'; style-src 'self'")
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert "<script>" not in page.text  # scripts come from files only
    assert '<script type="module" src="/static/workspace.js">' in page.text


def test_sign_in_never_sends_the_browser_to_another_site(workspace: Workspace) -> None:
    page = workspace.client.get("/sign-in?next=//evil.example/")
    response = workspace.client.post(
        "/sign-in",
        data={"email": TEAM, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "//evil.example/"},
    )
    assert response.headers["location"] == "/"


def test_a_list_that_shows_patients_puts_who_saw_them_in_each_ones_history(workspace: Workspace) -> None:
    """The queue shows names too: seeing a patient there is recorded as opening the referral is."""
    workspace.sign_in(TEAM)
    queue = workspace.client.get("/").text
    references = re.findall(r'href="/referrals/(NMSS-[A-Z0-9]+)"', queue)
    assert references
    workspace.sign_in(ADMIN)
    for reference in dict.fromkeys(references):
        page = workspace.client.get(f"/referrals/{reference}").text
        assert page.count(f"Seen in the queue list by {TEAM}") == 1, reference
