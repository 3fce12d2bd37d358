"""Sign-in with OpenID Connect against a real provider (node-oidc-provider), started here on a free port.

The browser's part is played by two clients: the workspace's own test client, and plain httpx for the
provider's login and consent pages. Tokens, signatures, state, nonce and PKCE are all real.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import _free_port
from tests.web.conftest import Workspace, csrf_of, invoke, service_in

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "nmss-workspace"
CLIENT_SECRET = "a-secret-only-for-tests"
CALLBACK = "https://testserver/sign-in/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The issuer URL of a running OpenID provider that knows the workspace as a client."""
    port = _free_port()
    process = subprocess.Popen(
        ["node", str(ROOT / "tests/web/oidc_provider.mjs"), str(port), CLIENT_ID, CLIENT_SECRET, CALLBACK],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until it listens, or until node exits
        if line.strip() != "ready":
            pytest.fail(f"the OpenID provider did not start (exit {process.poll()}): run scripts/install-web-assets")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def openid_workspace(
    provider: str,
    filled: Path,
    filled_database: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Workspace]:
    from intake.web import create_app

    app, clock = service_in(
        tmp_path,
        filled,
        monkeypatch,
        WEB__OPENID__ISSUER=provider,
        WEB__OPENID__CLIENT_ID=CLIENT_ID,
        WEB__OPENID__CLIENT_SECRET=CLIENT_SECRET,
        **filled_database,
    )
    with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
        yield Workspace(app, client, clock, tmp_path)
    app.engine.dispose()


class Forms(HTMLParser):
    """The forms of a page: action, and every input's name and value."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag in ("input", "button") and self.forms and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")


def sign_in_at_provider(workspace: Workspace, login: str) -> httpx.Response:
    """Start at the workspace's "Sign in with NHSmail", sign in and consent at the provider, come back."""
    start = workspace.client.get("/sign-in/openid")
    assert start.status_code in (302, 303), start.text
    location = start.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        for _ in range(10):
            if location.startswith(CALLBACK):
                parts = urlsplit(location)
                return workspace.client.get(f"{parts.path}?{parts.query}")
            response = browser.get(location)
            if response.status_code in (302, 303):
                location = urljoin(location, response.headers["location"])
                continue
            parser = Forms()
            parser.feed(response.text)
            action, fields = parser.forms[0]
            if "login" in fields:
                fields.update(login=login, password="any password")
            posted = browser.post(urljoin(location, action), data=fields)
            assert posted.status_code in (302, 303), posted.text
            location = urljoin(location, posted.headers["location"])
    pytest.fail("the provider never sent the browser back")


def test_a_team_member_signs_in_with_the_openid_provider(openid_workspace: Workspace) -> None:
    invoke("users", "add", "Nurse.Openid@nhs.net", "--role", "team")  # no password: OpenID Connect only
    page = openid_workspace.client.get("/sign-in")
    assert 'href="/sign-in/openid' in page.text
    assert "Sign in with NHSmail" in page.text

    back = sign_in_at_provider(openid_workspace, "nurse.openid@nhs.net")

    assert (back.status_code, back.headers["location"]) == (303, "/")
    queue = openid_workspace.client.get("/")
    assert queue.status_code == 200
    assert "nurse.openid@nhs.net" in queue.text


def test_someone_without_an_account_is_turned_away(openid_workspace: Workspace) -> None:
    back = sign_in_at_provider(openid_workspace, "stranger@nhs.net")

    assert back.status_code == 403
    assert "Your NHSmail account is not set up for this workspace" in back.text
    assert openid_workspace.client.get("/").status_code == 303


def test_a_forged_answer_from_the_provider_signs_nobody_in(openid_workspace: Workspace) -> None:
    openid_workspace.client.get("/sign-in/openid")
    back = openid_workspace.client.get("/sign-in/callback?code=forged&state=forged")

    assert back.status_code == 403
    assert re.search(r"Signing in with NHSmail did not finish", back.text)
    assert openid_workspace.client.get("/").status_code == 303


def test_a_password_cannot_sign_in_an_openid_account(workspace: Workspace) -> None:
    invoke("users", "add", "openid.only@nhs.net", "--role", "team")
    page = workspace.client.get("/sign-in")

    response = workspace.client.post(
        "/sign-in",
        data={"email": "openid.only@nhs.net", "password": "any password at all", "csrf_token": csrf_of(page.text)},
    )

    assert response.status_code == 400
    assert "The email address or password is not right" in response.text
