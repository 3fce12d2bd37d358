"""The service page's actions through HTTP, on the real pipeline: sending a failed email again (to a real SMTP
server), processing a quarantined message again (in the real parse workers), uploading a practice list (the
real importer); and who may do them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from starlette.testclient import TestClient

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.cli import cli
from intake.isolation import ParsePool
from intake.web import create_app
from samples.scenarios import accepted, deliver_to_maildir, incomplete
from tests.conftest import _free_port
from tests.e2e.conftest import today
from tests.faults import FaultyPool
from tests.web.conftest import ADMIN, TEAM, Clock, Workspace, csrf_of, service_in


class Boom(Exception):
    """What a bug in the pipeline looks like from outside."""


def cli_out(*args: str, obj: dict[str, Any] | None = None) -> Any:
    """Run a command of the service; its JSON when asked for, else its output."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, obj=obj)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


@dataclass
class Smtp:
    """An SMTP server that refuses every recipient until ``accepting``, and keeps what it accepts."""

    accepting: bool = False
    received: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - the hook name aiosmtpd looks for
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if not self.accepting:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        parsed = message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Smtp, int]]:
    handler, port = Smtp(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@contextmanager
def workspace_on(app_env: tuple[Any, Clock], root: Path, pool: ParsePool | None = None) -> Iterator[Workspace]:
    """The workspace on the copied database, its app built with ``pool`` (the parse workers) if given."""
    first, clock = app_env
    first.engine.dispose()
    app = bootstrap(load_settings(), clock=clock, pool=pool)
    with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
        yield Workspace(app, client, clock, root)
    app.engine.dispose()


def post(workspace: Workspace, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
    token = csrf_of(workspace.client.get("/").text)
    return workspace.client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)


def flash_after(workspace: Workspace, response: Any) -> str:
    assert (response.status_code, response.headers["location"]) == (303, "/service")
    page = workspace.client.get("/service").text
    match = re.search(r'<p class="nhsuk-notification-banner__heading">\s*(.*?)\s*</p>', page, re.S)
    assert match, "the page shows no result"
    return match.group(1)


# -- who may ------------------------------------------------------------------------------------------------


ADMIN_POSTS = (
    "/service/outbox/1/send-again",
    "/service/quarantine/1/process-again",
    "/service/practices",
    "/users",
    "/users/change",
)


def test_a_team_member_can_neither_see_nor_use_the_admin_pages(workspace: Workspace) -> None:
    workspace.sign_in(TEAM)
    for path in ("/service", "/users"):
        assert workspace.client.get(path).status_code == 403
    for path in ADMIN_POSTS:
        response = post(workspace, path, {"email": ADMIN, "action": "disable"})
        assert response.status_code == 403, path
        assert "This page is for the service&#39;s administrators." in response.text
    workspace.sign_in(ADMIN)
    assert workspace.client.get("/service").status_code == 200  # the admin was not disabled


def test_an_admin_action_without_its_form_token_changes_nothing(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    for path in ADMIN_POSTS:
        response = workspace.client.post(path, data={"email": ADMIN, "action": "disable", "csrf_token": "forged"})
        assert response.status_code == 403, path
        assert "This form has expired" in response.text
    assert workspace.client.get("/users").status_code == 200


# -- the outbox ---------------------------------------------------------------------------------------------


def test_an_email_the_server_refused_is_sent_again_from_the_service_page(
    filled: Path,
    filled_database: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp: tuple[Smtp, int],
) -> None:
    server, port = smtp
    env = service_in(
        tmp_path,
        filled,
        monkeypatch,
        OUTGOING__KIND="smtp",
        OUTGOING__SMTP__HOST="127.0.0.1",
        OUTGOING__SMTP__PORT=str(port),
        OUTGOING__SMTP__SECURITY="none",
        OUTGOING__SMTP__AUTH="none",
        **filled_database,
    )
    deliver_to_maildir(tmp_path / "var/mailbox", [incomplete(today(), seed=11)])
    cli_out("run", "--once")  # the reply is refused: given up on, a task for the team
    [task] = [t for t in cli_out("tasks", "list", "--json") if t["kind"] == "send_failed"]
    with workspace_on(env, tmp_path) as workspace:
        workspace.sign_in(ADMIN)
        page = workspace.client.get("/service").text
        assert "Emails the service could not send" in page
        assert "<code>SendRejected</code>" in page
        email_id = re.search(r'action="/service/outbox/(\d+)/send-again"', page)
        assert email_id

        result = flash_after(workspace, post(workspace, f"/service/outbox/{email_id.group(1)}/send-again"))

        assert result == f"Email {email_id.group(1)} is back in the outbox: the service sends it within a minute."
        page = workspace.client.get("/service").text
        assert "Emails the service could not send" not in page
        again = flash_after(workspace, post(workspace, f"/service/outbox/{email_id.group(1)}/send-again"))
        assert "is not waiting to be sent again" in again
        assert task["id"] not in {t["id"] for t in cli_out("tasks", "list", "--json")}, "sending again resolved it"

        cli_out("run", "--once")  # the server still refuses: given up on again, and the team told again
        [retold] = [t for t in cli_out("tasks", "list", "--json") if t["kind"] == "send_failed"]
        assert (retold["reference"], retold["id"] != task["id"]) == (task["reference"], True)
        assert "<code>SendRejected</code>" in workspace.client.get("/service").text

        server.accepting = True  # the cause is fixed
        flash_after(workspace, post(workspace, f"/service/outbox/{email_id.group(1)}/send-again"))
        cli_out("run", "--once")  # the service's next round sends it

    assert len(server.received) == 1
    assert str(server.received[0]["Subject"]).endswith(f"reference {task['reference']}")
    assert [t for t in cli_out("tasks", "list", "--json") if t["kind"] == "send_failed"] == []


# -- quarantined messages -----------------------------------------------------------------------------------


def test_a_quarantined_message_is_processed_again_in_the_parse_workers(
    filled: Path, filled_database: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_in(tmp_path, filled, monkeypatch, **filled_database)
    referral = accepted(today(), seed=12)
    deliver_to_maildir(tmp_path / "var/mailbox", [referral])
    cli_out("run", "--once", obj={"pool": FaultyPool.on_messages(referral.raw, error=lambda: Boom("a bug"))})
    [quarantined] = cli_out("status", "--json")["quarantined"]
    workers = FaultyPool(lambda: Boom("a bug"))
    workers.heal()  # the bug is fixed: every document goes to the real, isolated parse workers

    with workspace_on(env, tmp_path, pool=workers) as workspace:
        workspace.sign_in(ADMIN)
        page = workspace.client.get("/service").text
        assert f'action="/service/quarantine/{quarantined["id"]}/process-again"' in page
        assert "<code>Boom</code>" in page

        result = flash_after(workspace, post(workspace, f"/service/quarantine/{quarantined['id']}/process-again"))

        assert result == (
            f"Message {quarantined['id']} was processed again: Accepted and queued ({quarantined['reference']}), "
            "filed in Accepted."
        )
        assert workers.calls == 1, "the documents were read by the parse workers"
        assert "No message is quarantined." in workspace.client.get("/service").text
        again = flash_after(workspace, post(workspace, f"/service/quarantine/{quarantined['id']}/process-again"))
        assert again == f"Message {quarantined['id']} is not quarantined: it may have been processed again already."
        assert quarantined["reference"] in workspace.client.get("/").text  # queued
    resolved = [t for t in cli_out("tasks", "list", "--json", "--all") if t["reference"] == quarantined["reference"]]
    assert [(t["resolved_by"], t["note"]) for t in resolved] == [(ADMIN, "replayed: accepted")]


# -- the practice list --------------------------------------------------------------------------------------


def practice_file(tmp_path: Path) -> bytes:
    path = tmp_path / "epraccur.csv"
    cli_out("samples", "practices", str(path))
    return path.read_bytes()


def upload(workspace: Workspace, data: bytes, commissioners: str = "26A", name: str = "epraccur.csv") -> Any:
    return post(
        workspace,
        "/service/practices",
        {"commissioners": commissioners},
        files={"practice-file": (name, data, "text/csv")},
    )


def problems(html: str) -> dict[str, str]:
    """The error summary's links: where each points, and its text."""
    return {href: text.strip() for href, text in re.findall(r'<a href="#([\w-]+)">\s*(.*?)\s*</a>', html, re.S)}


def practices_summary(workspace: Workspace) -> str:
    page = workspace.client.get("/service").text
    match = re.search(r"Practices in the list\s*</dt>\s*<dd[^>]*>\s*(.*?)\s*</dd>", page, re.S)
    assert match
    return match.group(1)


def test_a_new_practice_list_is_uploaded(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    assert practices_summary(workspace) == "9 (8 active)"
    three = "\r\n".join(practice_file(workspace.root).decode().splitlines()[:3]).encode()

    result = flash_after(workspace, upload(workspace, three))

    assert (
        result == "The practice list now holds 3 practices of 26A (3 active); 0 of other commissioners were left out."
    )
    assert practices_summary(workspace) == "3 (3 active)"


BAD_FILES = {
    "a spreadsheet": (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x81\x8d\x8f\x90\x9d", "26A"),
    "too few columns": (b"A81001,THE SURGERY,X\r\n", "26A"),
    "a field no CSV reader takes": (b'A81001,"' + b"x" * 200_000 + b'"\r\n', "26A"),
    "a bad practice code": (b"A8100,THE SURGERY" + b",x" * 25 + b"\r\n", "26A"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_file_that_is_not_epraccur_is_one_clear_line_and_changes_nothing(workspace: Workspace, case: str) -> None:
    workspace.sign_in(ADMIN)
    before = practices_summary(workspace)
    data, commissioners = BAD_FILES[case]

    response = upload(workspace, data, commissioners)

    assert response.status_code == 400
    assert "<title>Error: Service – NMSS workspace</title>" in response.text
    assert "There is a problem" in response.text
    assert list(problems(response.text)) == ["practice-file"]
    assert problems(response.text)["practice-file"].startswith("The file is not an epraccur file: ")
    assert "Traceback" not in response.text
    assert practices_summary(workspace) == before


def test_an_upload_without_a_file_with_bad_codes_or_too_big_is_refused(workspace: Workspace) -> None:
    workspace.sign_in(ADMIN)
    before = practices_summary(workspace)
    good = practice_file(workspace.root)

    no_file = post(workspace, "/service/practices", {"commissioners": "26A"})
    bad_codes = upload(workspace, good, commissioners="26A; DROP")
    no_practice = upload(workspace, good, commissioners="99Z")
    too_big = upload(workspace, b"A" * (17 * 1024 * 1024))

    assert (no_file.status_code, bad_codes.status_code, no_practice.status_code, too_big.status_code) == (400,) * 4
    assert problems(no_file.text)["practice-file"] == "Select the epraccur file"
    assert (
        problems(bad_codes.text)["commissioners"] == "Enter the commissioners&#39; codes, like 26A, separated by commas"
    )
    assert problems(no_practice.text)["practice-file"] == (
        "The file is not an epraccur file: no practice in the file has one of the commissioner codes given"
    )
    assert problems(too_big.text)["practice-file"] == "The file must be smaller than 16 MB"
    assert practices_summary(workspace) == before
