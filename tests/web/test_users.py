"""The users page through HTTP: adding accounts (a one-time password shown once), changing roles, disabling,
the last admin kept, and every change in the audit trail."""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner

from intake.cli import cli
from tests.web.conftest import ADMIN, PASSWORD, TEAM, Workspace, csrf_of

NEWCOMER = "technician@nhs.net"


def post(workspace: Workspace, path: str, data: dict[str, str]) -> Any:
    token = csrf_of(workspace.client.get("/users").text)
    return workspace.client.post(path, data={"csrf_token": token, **data})


def add(workspace: Workspace, email: str, role: str = "team", signin: str = "one-time", password: str = "") -> Any:
    return post(workspace, "/users", {"email": email, "role": role, "signin": signin, "password": password})


def change(workspace: Workspace, email: str, action: str, role: str = "") -> Any:
    return post(workspace, "/users/change", {"email": email, "action": action, "role": role})


def problems(html: str) -> dict[str, str]:
    return {href: text.strip() for href, text in re.findall(r'<a href="#([\w-]+)">\s*(.*?)\s*</a>', html, re.S)}


def sign_in(workspace: Workspace, email: str, password: str) -> Any:
    page = workspace.client.get("/sign-in")
    return workspace.client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)}
    )


def recent_changes(workspace: Workspace) -> list[tuple[str, str]]:
    page = workspace.client.get("/users").text
    table = page[page.index("Changes to the accounts, newest first") :]
    rows = re.findall(r"<tr[^>]*>\s*<td[^>]*>.*?</td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", table, re.S)
    return [(what.strip(), by.strip()) for what, by in rows]


def test_a_one_time_password_is_shown_once_and_works_for_one_sign_in(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)

    response = add(workspace, NEWCOMER)

    assert response.status_code == 200
    shown = re.search(r"Their one-time password is <code>([^<]+)</code>", response.text)
    assert shown, "the password is shown"
    one_time = shown.group(1)
    assert one_time not in workspace.client.get("/users").text, "and only once"
    assert "one-time, not used yet" in workspace.client.get("/users").text

    assert sign_in(workspace, NEWCOMER, one_time).status_code == 303
    for path in ("/", "/reports", "/follow-up-calls"):
        assert workspace.client.get(path).headers["location"] == "/account/password"
    page = workspace.client.get("/account/password")
    assert "You signed in with a one-time password" in page.text
    chosen = "a password of my own choosing"
    mismatch = workspace.client.post(
        "/account/password",
        data={"password": chosen, "password-again": "something else", "csrf_token": csrf_of(page.text)},
    )
    assert problems(mismatch.text) == {"password-again": "Enter the same password twice"}
    saved = workspace.client.post(
        "/account/password", data={"password": chosen, "password-again": chosen, "csrf_token": csrf_of(page.text)}
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/")
    assert workspace.client.get("/").status_code == 200

    assert sign_in(workspace, NEWCOMER, one_time).status_code == 400, "the one-time password is spent"
    assert sign_in(workspace, NEWCOMER, chosen).status_code == 303


def test_an_account_is_added_for_nhsmail_or_with_a_password_the_admin_sets(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)

    nhsmail = add(workspace, "Pharmacist.Two@NHS.net", signin="nhsmail")
    local = add(workspace, NEWCOMER, role="admin", signin="password", password=PASSWORD)

    assert "Account added for pharmacist.two@nhs.net" in nhsmail.text
    assert "one-time password" not in nhsmail.text.split("Users</h1>")[0]
    assert "Account added for technician@nhs.net" in local.text
    assert sign_in(workspace, NEWCOMER, PASSWORD).status_code == 303
    assert workspace.client.get("/service").status_code == 200, "an admin, with no password to change"


def test_mistakes_in_the_add_form_are_each_one_line(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)

    cases = {
        ("", "team", "nhsmail", ""): {"email": "Enter their email address"},
        ("not an address", "team", "nhsmail", ""): {
            "email": "Enter an email address in the correct format, like name@nhs.net"
        },
        (NEWCOMER, "", "", ""): {"role": "Select a role", "signin": "Select how they will sign in"},
        (NEWCOMER, "team", "password", "short"): {"password": "Enter a password of at least 12 characters"},
        (TEAM, "team", "nhsmail", ""): {"email": "This email address has an account already"},
    }
    for (email, role, signin, password), expected in cases.items():
        response = add(workspace, email, role, signin, password)
        assert response.status_code == 400
        assert "<title>Error: Users – NMSS workspace</title>" in response.text
        assert problems(response.text) == expected
    assert NEWCOMER not in workspace.client.get("/users").text


def test_a_role_change_and_disabling_count_at_the_next_request(workspace: Workspace) -> None:
    team = workspace.client
    workspace.sign_in(TEAM)
    assert team.get("/service").status_code == 403
    with type(team)(team.app, base_url="https://testserver", follow_redirects=False) as admin:
        admin_space = Workspace(workspace.app, admin, workspace.clock, workspace.root)
        admin_space.sign_in(ADMIN)

        assert change(admin_space, TEAM, "role", "admin").status_code == 303
        assert team.get("/service").status_code == 200, "the new role counts at once"

        assert change(admin_space, TEAM, "disable").status_code == 303
        response = team.get("/")
        assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
        assert sign_in(workspace, TEAM, PASSWORD).status_code == 400
        assert "Disabled" in admin.get("/users").text

        assert change(admin_space, TEAM, "enable").status_code == 303
        assert sign_in(workspace, TEAM, PASSWORD).status_code == 303


def test_the_last_admin_cannot_remove_themself(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)

    for response in (change(workspace, ADMIN, "role", "team"), change(workspace, ADMIN, "disable")):
        assert response.status_code == 400
        assert problems(response.text) == {
            "accounts": "You are the only administrator: make someone else an administrator first"
        }
    assert workspace.client.get("/users").status_code == 200, "still an admin"

    assert change(workspace, TEAM, "role", "admin").status_code == 303
    demoted = change(workspace, ADMIN, "role", "team")
    assert (demoted.status_code, demoted.headers["location"]) == (303, "/"), "with another admin, they may"
    assert workspace.client.get("/users").status_code == 403


def test_every_change_is_in_the_audit_trail_with_who_made_it(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    add(workspace, NEWCOMER)
    change(workspace, NEWCOMER, "role", "admin")
    change(workspace, NEWCOMER, "disable")
    change(workspace, NEWCOMER, "enable")

    assert recent_changes(workspace)[:4] == [
        (f"Enabled {NEWCOMER}", ADMIN),
        (f"Disabled {NEWCOMER}", ADMIN),
        (f"Made {NEWCOMER} an admin", ADMIN),
        (f"Added {NEWCOMER} as a team member", ADMIN),
    ]
    # the accounts made by `nmss-intake users add` before the workspace started are there too
    assert (f"Added {TEAM} as a team member", "command line") in recent_changes(workspace)


def reset_button(email: str) -> str:
    return f'aria-label="Give a new one-time password to {email}"'


def shown_password(html: str, whose: str = "Their") -> str:
    shown = re.search(rf"{whose} one-time password is <code>([^<]+)</code>", html)
    assert shown, "the one-time password is shown"
    return shown.group(1)


def choose(workspace: Workspace, password: str, *, one_time: bool = True) -> Any:
    page = workspace.client.get("/account/password")
    assert ("You signed in with a one-time password" in page.text) == one_time
    return workspace.client.post(
        "/account/password", data={"password": password, "password-again": password, "csrf_token": csrf_of(page.text)}
    )


def test_an_admin_gives_a_forgotten_password_a_new_one_time_one_and_signs_out_whoever_had_the_old(
    workspace: Workspace,
) -> None:
    somebody = workspace.client
    workspace.sign_in(TEAM)  # someone who has the old password, signed in before the reset
    assert somebody.get("/").status_code == 200
    with type(somebody)(somebody.app, base_url="https://testserver", follow_redirects=False) as admin:
        admin_space = Workspace(workspace.app, admin, workspace.clock, workspace.root)
        admin_space.sign_in(ADMIN)
        assert reset_button(TEAM) in admin.get("/users").text

        response = change(admin_space, TEAM, "reset-password")

        assert response.status_code == 200
        assert f"New one-time password for {TEAM}" in response.text
        assert "Anyone who was signed in as them has been signed out." in response.text
        one_time = shown_password(response.text)
        assert one_time not in admin.get("/users").text, "shown once"
        assert "one-time, not used yet" in admin.get("/users").text
        assert recent_changes(admin_space)[0] == (f"Gave {TEAM} a new one-time password", ADMIN)

    signed_out = somebody.get("/")
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/sign-in")
    assert "signed out because the password of your account was changed" in somebody.get("/sign-in").text
    assert sign_in(workspace, TEAM, PASSWORD).status_code == 400, "the old password no longer signs in"

    assert sign_in(workspace, TEAM, one_time).status_code == 303
    assert somebody.get("/").headers["location"] == "/account/password"
    chosen = "my own new password, remembered"
    assert choose(workspace, chosen).headers["location"] == "/"
    assert somebody.get("/").status_code == 200, "choosing one's password keeps one signed in"
    assert sign_in(workspace, TEAM, one_time).status_code == 400, "the one-time password is spent"
    assert sign_in(workspace, TEAM, chosen).status_code == 303


def test_an_admin_may_give_themself_a_new_one_time_password(workspace: Workspace) -> None:
    here = workspace.client
    workspace.sign_in(ADMIN)
    with type(here)(here.app, base_url="https://testserver", follow_redirects=False) as elsewhere:
        Workspace(workspace.app, elsewhere, workspace.clock, workspace.root).sign_in(ADMIN)

        response = change(workspace, ADMIN, "reset-password")

        assert response.status_code == 200
        assert "Your one-time password is" in response.text
        assert elsewhere.get("/").headers["location"] == "/sign-in", "their other session is signed out"
    assert here.get("/users").headers["location"] == "/account/password", "this one goes on, to choose"
    assert choose(workspace, "an admin's own new password").headers["location"] == "/"
    assert here.get("/users").status_code == 200
    assert sign_in(workspace, ADMIN, PASSWORD).status_code == 400


def test_an_nhsmail_account_has_no_password_to_reset(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    nhsmail = "pharmacist.two@nhs.net"
    add(workspace, nhsmail, signin="nhsmail")

    page = workspace.client.get("/users").text
    assert reset_button(TEAM) in page
    assert nhsmail in page
    assert reset_button(nhsmail) not in page

    refused = change(workspace, nhsmail, "reset-password")
    unknown = change(workspace, "nobody@nhs.net", "reset-password")

    assert refused.status_code == 400
    assert problems(refused.text) == {
        "accounts": f"{nhsmail.capitalize()} signs in with NHSmail: there is no password here to reset"
    }
    assert (unknown.status_code, problems(unknown.text)) == (400, {"accounts": "That account no longer exists"})
    assert "a new one-time password" not in " ".join(what for what, _ in recent_changes(workspace))


def test_choosing_ones_own_password_signs_out_ones_other_sessions_and_not_this_one(workspace: Workspace) -> None:
    here = workspace.client
    workspace.sign_in(TEAM)
    with type(here)(here.app, base_url="https://testserver", follow_redirects=False) as elsewhere:
        Workspace(workspace.app, elsewhere, workspace.clock, workspace.root).sign_in(TEAM)

        assert choose(workspace, "a password only I know now", one_time=False).headers["location"] == "/"

        assert elsewhere.get("/").headers["location"] == "/sign-in", "whoever had the old password is signed out"
    assert here.get("/").status_code == 200
    assert sign_in(workspace, TEAM, PASSWORD).status_code == 400


def test_a_team_member_cannot_reset_a_password(workspace: Workspace) -> None:
    workspace.sign_in(TEAM)
    token = csrf_of(workspace.client.get("/").text)

    response = workspace.client.post(
        "/users/change", data={"csrf_token": token, "email": ADMIN, "action": "reset-password"}
    )

    assert response.status_code == 403
    assert "This page is for the service" in response.text
    assert sign_in(workspace, ADMIN, PASSWORD).status_code == 303, "the admin's password still works"


def test_a_one_time_password_from_the_command_line_signs_in_once(workspace: Workspace) -> None:
    result = CliRunner().invoke(cli, ["users", "reset-password", TEAM.upper()], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    [one_time] = result.stdout.splitlines()
    assert sign_in(workspace, TEAM, PASSWORD).status_code == 400
    assert sign_in(workspace, TEAM, one_time).status_code == 303
    assert workspace.client.get("/").headers["location"] == "/account/password"
    assert choose(workspace, "chosen after the command line").headers["location"] == "/"
    workspace.sign_in(ADMIN)
    assert recent_changes(workspace)[0] == (f"Gave {TEAM} a new one-time password", "command line")


def test_a_password_replaced_from_the_command_line_signs_out_whoever_had_the_old_one(workspace: Workspace) -> None:
    workspace.sign_in(TEAM)
    assert workspace.client.get("/").status_code == 200

    result = CliRunner().invoke(
        cli, ["users", "add", TEAM, "--role", "team", "--password-stdin"], input="a replaced password, long\n"
    )

    assert result.exit_code == 0, result.output
    assert workspace.client.get("/").headers["location"] == "/sign-in"
    assert sign_in(workspace, TEAM, "a replaced password, long").status_code == 303
