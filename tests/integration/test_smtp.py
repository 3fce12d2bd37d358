"""The SMTP sender against a real SMTP server (aiosmtpd) on a free port: what arrives is what we sent.

TLS is real: a self-signed certificate for 127.0.0.1 is made at test time with ``cryptography``, and the
client trusts it through its own CA file, as a deployment with a private CA would.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import RetrySettings, ServiceSettings
from intake.migrate import upgrade
from intake.outbox import send_due
from intake.store import OutboxRecord, TaskRecord
from microsoft.entra import TokenUnreachable
from notifier.errors import SendDeferred, SendRejected, UnsafeMessage
from notifier.replies import build_reply
from notifier.senders.smtp import SmtpSender
from parsers.mail import Mail
from rules.types import Problem

HOST = "127.0.0.1"
USER = "agem.norfolkmedicineservices@nhs.net"
PASSWORD = "correct horse battery staple"
TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QifQ.test-access-token"
NOW = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Keeps what arrives; refuses recipients whose local part says so (``refuse-550@…``, ``later-451@…``)."""

    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - the hook name aiosmtpd looks for
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        local = address.partition("@")[0]
        if local.startswith("refuse-"):
            return "550 5.1.1 Mailbox unavailable"
        if local.startswith("later-"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        parsed = message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802 - aiosmtpd hook
        """RFC 7628 as Exchange Online speaks it: ``user=…^Aauth=Bearer …^A^A`` in the initial response."""
        decoded = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        if fields.get("auth") == f"Bearer {TOKEN}":
            self.logins.append(f"xoauth2:{fields.get('user')}")
            return AuthResult(success=True, auth_data=fields.get("user"))
        await server.push("535 5.7.3 Authentication unsuccessful")
        return AuthResult(success=False, handled=True)


def password_authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    if isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode():
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


@dataclass
class Server:
    handler: Handler
    port: int


@pytest.fixture
def starttls_server(certificate: Certificate) -> Iterator[Server]:
    """A submission server on a free port that insists on STARTTLS before AUTH and mail."""
    handler = Handler()
    port = free_port()
    controller = Controller(
        handler,
        hostname=HOST,
        port=port,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=password_authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield Server(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def tls_server(certificate: Certificate) -> Iterator[Server]:
    """A server that speaks TLS from the first byte (port 465 style), with no authentication."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, ssl_context=certificate.server_context())
    controller.start()
    try:
        yield Server(handler, port)
    finally:
        controller.stop()


PHARMACY = "pharmacy.team@nhs.net"


def reply(to: str = PHARMACY) -> EmailMessage:
    return build_reply(
        "incomplete",
        mail=Mail(message_id="orig.1@pharmacy.nhs.net", sender=to),
        problems=[Problem(form="form2", field="patient.dob", label="Date of birth", code="missing")],
        missing_forms=["Medication Independence Assessment Tool"],
        reference="NMSS-7KQ2M4PA",
        service=ServiceSettings(),
        now=NOW,
    )


def starttls_sender(server: Server, certificate: Certificate, **overrides: Any) -> SmtpSender:
    options: dict[str, Any] = {
        "security": "starttls",
        "auth": "password",
        "username": USER,
        "password": PASSWORD,
        "ssl_context": certificate.client_context(),
        "timeout": 10,
    }
    return SmtpSender(HOST, server.port, **(options | overrides))


def test_a_reply_sent_over_starttls_with_a_password_arrives_with_its_headers_and_both_bodies(
    starttls_server: Server, certificate: Certificate
) -> None:
    sent = reply()

    starttls_sender(starttls_server, certificate).send(
        sent, recipients=[PHARMACY], key="reply-NMSS-7KQ2M4PA-incomplete"
    )

    [arrived] = starttls_server.handler.received
    assert arrived.mail_from == USER
    assert arrived.rcpt_tos == ["pharmacy.team@nhs.net"]
    message = arrived.message
    assert message["Message-ID"].strip() == sent["Message-ID"]
    assert message["In-Reply-To"] == "<orig.1@pharmacy.nhs.net>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "Medication Independence Assessment Tool" in plain.get_content()
    assert "NHS 111 or 999" in html.get_content()


def test_an_xoauth2_login_presents_the_token_from_the_provider_and_the_mail_arrives(
    starttls_server: Server, certificate: Certificate
) -> None:
    calls = []

    def token() -> str:
        calls.append(1)
        return TOKEN

    sender = starttls_sender(starttls_server, certificate, auth="xoauth2", password=None, token_provider=token)
    sender.send(reply(), recipients=[PHARMACY], key="k1")

    assert calls == [1]
    assert starttls_server.handler.logins == [f"xoauth2:{USER}"]
    assert len(starttls_server.handler.received) == 1


def test_a_token_the_server_refuses_is_a_permanent_failure_and_nothing_arrives(
    starttls_server: Server, certificate: Certificate
) -> None:
    sender = starttls_sender(
        starttls_server, certificate, auth="xoauth2", password=None, token_provider=lambda: "expired"
    )

    with pytest.raises(SendRejected) as raised:
        sender.send(reply(), recipients=[PHARMACY], key="k1")

    assert raised.value.code == 535
    assert starttls_server.handler.received == []


def test_no_token_from_entra_id_is_a_failure_to_retry_and_nothing_is_sent(
    starttls_server: Server, certificate: Certificate
) -> None:
    def refused() -> str:
        raise TokenUnreachable("cannot reach Microsoft Entra ID for a token", code="unreachable")

    sender = starttls_sender(starttls_server, certificate, auth="xoauth2", password=None, token_provider=refused)

    with pytest.raises(SendDeferred) as raised:
        sender.send(reply(), recipients=[PHARMACY], key="k1")

    assert raised.value.reason == "token_unreachable"
    assert starttls_server.handler.received == []


def test_a_wrong_password_is_a_permanent_failure(starttls_server: Server, certificate: Certificate) -> None:
    with pytest.raises(SendRejected):
        starttls_sender(starttls_server, certificate, password="wrong").send(reply(), recipients=[PHARMACY], key="k1")


def test_a_server_certificate_the_client_does_not_trust_is_refused_before_anything_is_sent(
    starttls_server: Server, certificate: Certificate
) -> None:
    sender = starttls_sender(starttls_server, certificate, ssl_context=ssl.create_default_context())

    with pytest.raises(SendRejected) as raised:
        sender.send(reply(), recipients=[PHARMACY], key="k1")

    assert raised.value.reason == "tls_certificate_not_trusted"
    assert starttls_server.handler.received == []


def test_implicit_tls_delivers_the_reply(tls_server: Server, certificate: Certificate) -> None:
    sender = SmtpSender(HOST, tls_server.port, security="tls", ssl_context=certificate.client_context(), timeout=10)

    sender.send(reply(), recipients=[PHARMACY], key="k1")

    assert [r.rcpt_tos for r in tls_server.handler.received] == [["pharmacy.team@nhs.net"]]


def test_a_recipient_refused_with_5xx_is_permanent_and_with_4xx_is_retried_later(
    starttls_server: Server, certificate: Certificate
) -> None:
    sender = starttls_sender(starttls_server, certificate)

    with pytest.raises(SendRejected) as refused:
        sender.send(reply(to="refuse-550@pharmacy.nhs.net"), recipients=["refuse-550@pharmacy.nhs.net"], key="k1")
    with pytest.raises(SendDeferred) as later:
        sender.send(reply(to="later-451@pharmacy.nhs.net"), recipients=["later-451@pharmacy.nhs.net"], key="k2")

    assert (refused.value.code, later.value.code) == (550, 451)
    assert starttls_server.handler.received == []


def test_no_server_listening_is_a_failure_to_retry_later() -> None:
    sender = SmtpSender(HOST, free_port(), security="none", timeout=2)

    with pytest.raises(SendDeferred):
        sender.send(reply(), recipients=[PHARMACY], key="k1")


def test_the_error_a_sender_raises_names_no_recipient(starttls_server: Server, certificate: Certificate) -> None:
    with pytest.raises(SendRejected) as raised:
        starttls_sender(starttls_server, certificate).send(
            reply(to="refuse-550@pharmacy.nhs.net"), recipients=["refuse-550@pharmacy.nhs.net"], key="k1"
        )

    assert "pharmacy" not in str(raised.value)


# -- the outbox worker sending through the real server ------------------------------------------------------


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def outbox_row(key: str, message: EmailMessage) -> OutboxRecord:
    return OutboxRecord(
        key=key, kind="reply_incomplete", recipient=str(message["To"]), raw=message.as_bytes(), created_at=NOW
    )


def test_the_worker_sends_each_due_row_once_retries_a_deferred_one_later_and_hands_a_refused_one_to_the_team(
    database_engine: Engine, starttls_server: Server, certificate: Certificate
) -> None:
    upgrade(database_engine)
    with Session(database_engine) as session:
        session.add(outbox_row("ok", reply()))
        session.add(outbox_row("later", reply(to="later-451@pharmacy.nhs.net")))
        session.add(outbox_row("refused", reply(to="refuse-550@pharmacy.nhs.net")))
        session.commit()
    sender = starttls_sender(starttls_server, certificate)
    clock = Clock(NOW)
    retry = RetrySettings(max_attempts=3, base_seconds=60, max_seconds=600)

    first = send_due(database_engine, sender, clock=clock, retry=retry)
    too_soon = send_due(database_engine, sender, clock=clock, retry=retry)
    clock.now += dt.timedelta(seconds=61)
    second = send_due(database_engine, sender, clock=clock, retry=retry)

    assert (first.sent, first.deferred, first.failed) == (1, 1, 1)
    assert (too_soon.sent, too_soon.deferred, too_soon.failed) == (0, 0, 0), "nothing is due before the back-off"
    assert (second.sent, second.deferred, second.failed) == (0, 1, 0)
    assert len(starttls_server.handler.received) == 1
    with Session(database_engine) as session:
        rows = {row.key: row for row in session.exec(select(OutboxRecord))}
        tasks = session.exec(select(TaskRecord)).all()
    assert rows["ok"].state == "sent"
    assert (rows["later"].state, rows["later"].attempts) == ("pending", 2)
    assert rows["later"].next_attempt_at == clock.now + dt.timedelta(seconds=120)
    assert (rows["refused"].state, rows["refused"].last_error) == ("failed", "SendRejected")
    assert [(task.kind, task.action) for task in tasks] == [
        ("send_failed", "send it by hand: the automatic reply could not be sent")
    ]


# -- recipients: the envelope is the caller's, never the headers' ------------------------------------------


@pytest.fixture(params=[True, False], ids=["SMTPUTF8 offered", "SMTPUTF8 not offered"])
def plain_server(request: pytest.FixtureRequest) -> Iterator[tuple[Server, bool]]:
    """A server with no TLS and no login, offering SMTPUTF8 or not."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, enable_SMTPUTF8=request.param)
    controller.start()
    try:
        yield Server(handler, port), request.param
    finally:
        controller.stop()


def plain_sender(server: Server) -> SmtpSender:
    return SmtpSender(HOST, server.port, security="none", timeout=10)


def test_a_utf8_address_is_sent_with_smtputf8_where_offered_and_otherwise_held_back(
    plain_server: tuple[Server, bool],
) -> None:
    server, offered = plain_server
    address = "jürgen@bücher.example"
    sent = reply(to=address)

    if offered:
        plain_sender(server).send(sent, recipients=[address], key="k1")
        [arrived] = server.handler.received
        assert arrived.rcpt_tos == [address]
        # The header arrives as raw UTF-8 (RFC 6532), which the email package keeps as surrogate escapes.
        to = dict(arrived.message.raw_items())["To"]
        assert str(to).encode("ascii", "surrogateescape") == address.encode()
    else:
        with pytest.raises(UnsafeMessage) as raised:
            plain_sender(server).send(sent, recipients=[address], key="k1")
        assert raised.value.reason == "smtputf8_not_offered"
        assert server.handler.received == []


def test_an_idn_domain_goes_out_in_its_ascii_form_to_any_server(plain_server: tuple[Server, bool]) -> None:
    server, _offered = plain_server
    address = "anne@xn--bcher-kva.example"

    plain_sender(server).send(reply(to="anne@bücher.example"), recipients=[address], key="k1")

    assert [r.rcpt_tos for r in server.handler.received] == [[address]]


@pytest.mark.parametrize("header", ["Bcc", "Cc"])
def test_a_message_naming_anyone_else_in_its_headers_is_refused_and_nothing_is_sent(header: str) -> None:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        sent = reply()
        sent[header] = "evil@attacker.example"
        with pytest.raises(UnsafeMessage):
            plain_sender(Server(handler, port)).send(sent, recipients=[PHARMACY], key="k1")
    finally:
        controller.stop()

    assert handler.received == []


def test_the_worker_gives_an_unsendable_utf8_reply_to_the_team(database_engine: Engine) -> None:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, enable_SMTPUTF8=False)
    controller.start()
    address = "jürgen@bücher.example"
    upgrade(database_engine)
    try:
        with Session(database_engine) as session:
            message = reply(to=address)
            session.add(
                OutboxRecord(
                    key="utf8", kind="reply_incomplete", recipient=address, raw=message.as_bytes(), created_at=NOW
                )
            )
            session.commit()
        report = send_due(database_engine, plain_sender(Server(handler, port)), clock=Clock(NOW), retry=RetrySettings())
    finally:
        controller.stop()

    assert (report.sent, report.failed) == (0, 1)
    assert handler.received == []
    with Session(database_engine) as session:
        [row] = session.exec(select(OutboxRecord)).all()
        [task] = session.exec(select(TaskRecord)).all()
    assert (row.state, row.last_error) == ("failed", "UnsafeMessage")
    assert task.action == "send it by hand: the automatic reply could not be sent"
