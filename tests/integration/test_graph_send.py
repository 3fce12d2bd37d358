"""The Graph sender: what it posts to ``/users/{sender}/sendMail`` and how it reads Graph's answers (respx), and
the token it gets from Entra ID as the settings build it (recorded responses, tests/recordings/graph)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import respx

from config.settings import ServiceSettings, Settings
from notifier.errors import SendDeferred, SendRejected, UnsafeMessage
from notifier.replies import build_reply
from notifier.sender import Sender
from notifier.senders.graph import GraphSender
from parsers.mail import Mail

SENDER = "agem.norfolkmedicineservices@nhs.net"
PHARMACY = "pharmacy.team@nhs.net"
URL = f"https://graph.microsoft.com/v1.0/users/{SENDER}/sendMail"
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "graph"
TENANT = "7f1a2b3c-0000-4000-8000-000000000999"
LOGIN = f"https://login.microsoftonline.com/{TENANT}"


def reply() -> EmailMessage:
    return build_reply(
        "misrouted",
        mail=Mail(message_id="orig.1@pharmacy.nhs.net", sender=PHARMACY),
        problems=[],
        missing_forms=[],
        reference="NMSS-7KQ2M4PA",
        service=ServiceSettings(),
        now=dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC),
    )


def sender() -> GraphSender:
    return GraphSender(SENDER, lambda: "graph-token", client=httpx.Client(timeout=5))


def test_the_graph_sender_is_a_sender() -> None:
    assert isinstance(sender(), Sender)


@respx.mock
def test_the_message_is_posted_as_base64_mime_in_a_text_plain_body_with_the_bearer_token() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    sent = reply()

    sender().send(sent, recipients=[PHARMACY], key="reply-NMSS-7KQ2M4PA-misrouted")

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer graph-token"
    assert request.headers["Content-Type"] == "text/plain"
    posted = message_from_bytes(base64.b64decode(request.content), policy=policy.default)
    assert posted["Message-ID"].strip() == sent["Message-ID"]
    assert posted["To"] == "pharmacy.team@nhs.net"
    assert posted["Auto-Submitted"] == "auto-replied"


@pytest.mark.parametrize("status", [429, 500, 503, 504, 408])
@respx.mock
def test_throttling_and_server_errors_are_retried_later(status: int) -> None:
    respx.post(URL).mock(return_value=httpx.Response(status, json={"error": {"code": "TooManyRequests"}}))

    with pytest.raises(SendDeferred) as raised:
        sender().send(reply(), recipients=[PHARMACY], key="k")

    assert raised.value.code == status


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "ErrorMimeContentInvalidBase64String"), (403, "ErrorAccessDenied"), (404, "ErrorInvalidUser")],
)
@respx.mock
def test_a_request_graph_refuses_is_permanent_and_names_graphs_error_code_only(status: int, code: str) -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(
            status, json={"error": {"code": code, "message": "pharmacy.team@nhs.net is not allowed"}}
        )
    )

    with pytest.raises(SendRejected) as raised:
        sender().send(reply(), recipients=[PHARMACY], key="k")

    assert raised.value.reason == code
    assert "pharmacy" not in str(raised.value)


@respx.mock
def test_a_connection_that_fails_or_times_out_is_retried_later() -> None:
    respx.post(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])

    with pytest.raises(SendDeferred):
        sender().send(reply(), recipients=[PHARMACY], key="k")
    with pytest.raises(SendDeferred) as raised:
        sender().send(reply(), recipients=[PHARMACY], key="k")

    assert raised.value.reason == "timeout"


@respx.mock
def test_graph_which_reads_recipients_from_the_headers_gets_nothing_that_names_anyone_else() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    hidden = reply()
    hidden["Bcc"] = "evil@attacker.example"

    with pytest.raises(UnsafeMessage):
        sender().send(hidden, recipients=[PHARMACY], key="k")
    with pytest.raises(UnsafeMessage):
        sender().send(reply(), recipients=["evil@attacker.example"], key="k")

    assert not route.called


@respx.mock
def test_a_utf8_local_part_is_held_back_rather_than_posted() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    address = "jürgen@bücher.example"
    message = build_reply(
        "misrouted",
        mail=Mail(sender=address),
        problems=[],
        missing_forms=[],
        reference="NMSS-7KQ2M4PA",
        service=ServiceSettings(),
        now=dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC),
    )

    with pytest.raises(UnsafeMessage) as raised:
        sender().send(message, recipients=[address], key="k")

    assert raised.value.reason == "smtputf8_not_offered"
    assert not route.called


def recorded(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=(RECORDINGS / name).read_bytes(), headers={"Content-Type": "application/json"}
    )


def sender_from_settings() -> GraphSender:
    return GraphSender.from_settings(
        Settings(
            outgoing={  # type: ignore[arg-type]
                "kind": "graph",
                "graph": {
                    "tenant_id": TENANT,
                    "client_id": "5e0b7c1d-0000-4000-8000-000000000123",
                    "client_secret": "x",
                },
            }
        )
    )


@respx.mock
def test_built_from_the_settings_it_sends_as_the_service_with_a_token_from_entra_id() -> None:
    respx.get(f"{LOGIN}/v2.0/.well-known/openid-configuration").mock(return_value=recorded("openid-configuration.json"))
    token = respx.post(f"{LOGIN}/oauth2/v2.0/token").mock(return_value=recorded("token.json"))
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    sender = sender_from_settings()

    sender.send(reply(), recipients=[PHARMACY], key="first")
    sender.send(reply(), recipients=[PHARMACY], key="second")

    access = json.loads((RECORDINGS / "token.json").read_text())["access_token"]
    assert [call.request.headers["Authorization"] for call in route.calls] == [f"Bearer {access}"] * 2
    assert token.call_count == 1, "the token is kept until it is about to expire"


@respx.mock
def test_a_token_entra_id_refuses_is_retried_later_naming_only_the_error_code() -> None:
    respx.get(f"{LOGIN}/v2.0/.well-known/openid-configuration").mock(return_value=recorded("openid-configuration.json"))
    respx.post(f"{LOGIN}/oauth2/v2.0/token").mock(return_value=recorded("token-invalid-client.json", 401))
    route = respx.post(URL).mock(return_value=httpx.Response(202))

    with pytest.raises(SendDeferred) as raised:
        sender_from_settings().send(reply(), recipients=[PHARMACY], key="k")

    assert raised.value.reason == "token_invalid_client"
    assert "AADSTS" not in str(raised.value)
    assert not route.called
