"""Hostile headers through the real service: an automatic reply never carries an attacker's header line, never
reaches an attacker's address, and never goes to a machine or to the service itself.

Mail goes in through the Maildir defaults and out through a real SMTP server (aiosmtpd) on a free port, with
``run --once`` driving the whole way, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from intake.assess import reference_for
from intake.store import OutboxRecord, make_engine
from samples.emails import referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import patient, seeded
from samples.scenarios import FILENAMES, Scenario, deliver_to_maildir

from .conftest import LONDON, Service, today

HOST = "127.0.0.1"
ATTACKER = b"attacker.example"
PLACEHOLDER_ID = "<placeholder.id@example.org>"
REPLY_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-loop",
    "mime-version",
    "content-type",
}
"""Every header an automatic reply may have: anything else got there from outside."""


@dataclass
class Arrived:
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, _class=EmailMessage, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Catcher:
    """An SMTP server's handler that keeps every RCPT it was asked for and every message it took."""

    rcpts: list[str] = field(default_factory=list)
    arrived: list[Arrived] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - the hook name aiosmtpd looks for
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.rcpts.append(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.arrived.append(Arrived(list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(service: Service, monkeypatch: pytest.MonkeyPatch) -> Iterator[Catcher]:
    """The service configured to send through a real SMTP server on localhost, which keeps what it is given."""
    catcher = Catcher()
    port = free_port()
    controller = Controller(catcher, hostname=HOST, port=port)
    controller.start()
    for name, value in {
        "KIND": "smtp",
        "SMTP__HOST": HOST,
        "SMTP__PORT": str(port),
        "SMTP__SECURITY": "none",
        "SMTP__AUTH": "none",
        "REPLY_LIMITS__PER_SENDER_PER_DAY": "50",
    }.items():
        monkeypatch.setenv(f"NMSS_OUTGOING__{name}", value)
    try:
        yield catcher
    finally:
        controller.stop()


def form1_email(seed: int, sender: str, headers: dict[str, str] | None = None) -> bytes:
    """Form 1 alone (due a "goes to the pharmacy" reply) from ``sender``, with ``headers`` written into the
    raw bytes exactly as given: the email package would refuse or re-encode most of them."""
    day = today()
    person = patient(seeded("hostile-headers", seed), today=day)
    pdf = fillable_pdf("form1", complete_values("form1", person, today=day, seed=seed))
    raw = referral_email(
        attachments=[(FILENAMES["form1"], pdf)],
        sender="placeholder.sender@example.org",
        subject="Form for help with medicines",
        date=dt.datetime.combine(day, dt.time(9, seed % 60), tzinfo=LONDON),
        message_id=PLACEHOLDER_ID,
    )
    headers = dict(headers or {})
    raw = raw.replace(b"placeholder.sender@example.org", sender.encode())
    raw = raw.replace(PLACEHOLDER_ID.encode(), headers.pop("Message-ID", f"<hostile.{seed}@example.org>").encode())
    added = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    return added + raw


def deliver(service: Service, *raws: bytes) -> None:
    deliver_to_maildir(service.mailbox, [Scenario(f"m{i}", "", raw, "misrouted") for i, raw in enumerate(raws)])


def run_once(service: Service) -> dict[str, str]:
    """``run --once``; the outcome printed for each reference."""
    result = service.invoke("run", "--once")
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]
    return {words[0]: words[1] for words in lines}


def team_tasks(service: Service) -> list[str]:
    """What the team is asked to do, as `tasks list --json` says it."""
    result = service.invoke("tasks", "list", "--json")
    assert result.exit_code == 0, result.output
    return [str(task["action"]) for task in json.loads(result.stdout)]


HELD_BACK = "reply by hand: the automatic reply was held back "


def outbox_recipients(service: Service) -> list[str]:
    engine = make_engine(service.database)
    try:
        with Session(engine) as session:
            return [row.recipient for row in session.exec(select(OutboxRecord).order_by(OutboxRecord.id))]  # type: ignore[arg-type]
    finally:
        engine.dispose()


INJECTIONS = {
    "Message-ID, as reported": {
        "Message-ID": "<=?utf-8?q?x=0D=0ABcc:_evil1@attacker.example=0D=0AX-A:_?=@example.org>"
    },
    "Message-ID of atext only, a blank line into the body": {
        "Message-ID": "<=?utf-8?q?x=0D=0A=0D=0Ainjected_attacker.example_body?=@example.org>"
    },
    "References": {
        "References": "<root.1@example.org> <=?utf-8?q?r=0D=0ABcc:_evil2@attacker.example=0D=0A?=@example.org>"
    },
    "In-Reply-To": {"In-Reply-To": "<=?utf-8?q?i=0D=0ABcc:_evil3@attacker.example=0D=0A?=@example.org>"},
    "Reply-To local part": {"Reply-To": "=?utf-8?q?desk=0D=0ABcc:_evil4@attacker.example=0D=0A?=@example.org"},
    "Reply-To domain": {"Reply-To": "desk@=?utf-8?q?example.org=0D=0ABcc:_evil5@attacker.example?="},
}


def test_injected_header_lines_never_reach_a_reply_and_the_attacker_receives_nothing(
    service: Service, smtp: Catcher
) -> None:
    """Each reply goes to its sender alone, with only the reply's own headers and its body intact; ids that
    are not strict msg-ids are left out of the threading headers."""
    senders = [f"pharmacist.{i}@pharmacy.example.org" for i in range(len(INJECTIONS))]
    deliver(service, *(form1_email(i, s, h) for i, (s, h) in enumerate(zip(senders, INJECTIONS.values(), strict=True))))

    outcomes = run_once(service)

    assert sorted(outcomes.values()) == ["misrouted"] * len(INJECTIONS)
    assert sorted(smtp.rcpts) == sorted(senders), "the envelope names each sender once, nobody else"
    assert sorted(a.rcpt_tos[0] for a in smtp.arrived) == sorted(senders)
    for arrived in smtp.arrived:
        reply = arrived.message
        assert ATTACKER not in arrived.raw
        assert {name.lower() for name in reply} <= REPLY_HEADERS
        assert [a.addr_spec for a in reply["To"].addresses] == arrived.rcpt_tos
        assert reply.get_content_type() == "multipart/alternative"
        assert "NHS 111" in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        threading = f"{reply['In-Reply-To'] or ''} {reply['References'] or ''}"
        assert "=?" not in threading
    references = [a.message["References"] for a in smtp.arrived if "root.1@example.org" in str(a.message["References"])]
    assert [str(r) for r in references] == ["<root.1@example.org> <hostile.2@example.org>"]


def test_a_sender_address_that_is_not_an_address_is_decided_and_the_team_replies(
    service: Service, smtp: Catcher
) -> None:
    """An encoded-word in the From domain, or a From with no domain at all, leaves nobody to answer: the
    message is decided, not quarantined, nothing is sent, and the team has an item to reply by hand."""
    raws = [
        form1_email(40, "pharmacist@=?utf-8?q?example.org=0D=0ABcc:_evil6@attacker.example?="),
        form1_email(41, "=?utf-8?q?x=0D=0ABcc:_evil7@attacker.example=0D=0A?=@example.org"),
        form1_email(42, "bob"),
    ]
    deliver(service, *raws)

    outcomes = run_once(service)

    assert [outcomes[reference_for(raw)] for raw in raws] == ["misrouted"] * 3
    assert smtp.rcpts == []
    assert outbox_recipients(service) == []
    assert team_tasks(service) == [HELD_BACK + "(the email gives no address to reply to)"] * 3
    assert service.folder_counts().get("Quarantine", 0) == 0


def test_replies_skip_machines_and_the_service_itself_however_they_are_spelt(service: Service, smtp: Catcher) -> None:
    """A Reply-To of a machine makes the mail automatic (the team answers); a Reply-To of our own mailbox with a
    +tag, or one that does not parse (a domain ending in a dot), is passed over for the From address."""
    person = "pharmacist.desk@pharmacy.example.org"
    raws = {
        "machine": form1_email(50, person, {"Reply-To": "MAILER-DAEMON@mx.example.org"}),
        "noreply": form1_email(51, person, {"Reply-To": "no.reply+alerts@pharmacy.example.org"}),
        "postmaster": form1_email(52, person, {"Reply-To": "postmaster@pharmacy.example.org"}),
        "ourselves": form1_email(53, person, {"Reply-To": "Agem.NorfolkMedicineServices+intake@NHS.net"}),
        "dot": form1_email(54, person, {"Reply-To": "desk@pharmacy.example.org."}),
    }
    deliver(service, *raws.values())

    run_once(service)

    assert smtp.rcpts == [person, person]
    assert outbox_recipients(service) == [person, person]
    assert team_tasks(service) == [HELD_BACK + "(the sender is a system address)"] * 3


def test_the_reply_limit_counts_a_mailbox_however_its_address_is_spelt(
    service: Service, smtp: Catcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x+a@nhs.net, X@NHS.NET and x@nhs.net are one mailbox: with a limit of two a day, the third reply is the
    team's."""
    monkeypatch.setenv("NMSS_OUTGOING__REPLY_LIMITS__PER_SENDER_PER_DAY", "2")
    spellings = ["fake.pharmacy+referrals@nhs.net", "FAKE.PHARMACY@NHS.NET", "fake.pharmacy@nhs.net"]
    deliver(service, *(form1_email(60 + i, address) for i, address in enumerate(spellings)))

    outcomes = run_once(service)

    assert sorted(outcomes.values()) == ["misrouted"] * 3
    assert len(smtp.arrived) == 2
    assert team_tasks(service) == [HELD_BACK + "(this sender reached the daily limit of automatic replies)"]


def test_a_reply_the_header_guard_refuses_is_held_back_for_the_team(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever slips a line break into a header (here the service's own name), the reply is not written:
    the message is decided and the team gets a task to answer it by hand."""
    monkeypatch.setenv("NMSS_SERVICE__NAME", "Norfolk Medicines\r\nBcc: evil@attacker.example")
    raw = form1_email(70, "pharmacist.desk@pharmacy.example.org")
    deliver(service, raw)

    outcomes = run_once(service)

    assert outcomes == {reference_for(raw): "misrouted"}
    assert list(service.outbox.glob("*.eml")) == []
    assert outbox_recipients(service) == []
    assert team_tasks(service) == [HELD_BACK + "(the email's headers could not be answered safely)"]
