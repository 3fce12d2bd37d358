"""Sending through Exchange (EWS, notifier/senders/ews.py) against recorded SOAP responses (tests/recordings/ews).

As in test_ews.py, a requests adapter mounted through exchangelib's ``BaseProtocol.HTTP_ADAPTER_CLS`` answers
each SOAP operation from the recordings and fails on anything it has no recording for, so nothing leaves the
machine. The account is built by ``account_for``, as the composition root builds it (basic credentials,
Exchange 2013 schema, no retries inside exchangelib).
"""

from __future__ import annotations

import base64
import re
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from exchangelib.protocol import BaseProtocol, close_connections
from pydantic import SecretStr

from config.settings import EwsSettings
from microsoft.exchange import account_for
from notifier.errors import SendDeferred, SendRejected
from notifier.senders.ews import EwsSender
from samples.people import Patient, patient
from tests.integration.recorded_ews import ENDPOINT, RecordedExchange, fill

NS = {
    "s": "http://schemas.xmlsoap.org/soap/envelope/",
    "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
    "t": "http://schemas.microsoft.com/exchange/services/2006/types",
}
PERSON: Patient = patient(11)
REFUSED = (200, "create-item-invalid-recipients.xml")
BUSY = (200, "create-item-server-busy.xml")
UNAVAILABLE = (503, "service-unavailable.html")
SERVER_TEXTS = (  # what the recordings say besides the response code
    "recipient isn't valid",
    "contains no recipients",
    "cannot service this request",
    "Try again later",
    "30000",
    "Service Unavailable",
    "HTTP Error 503",
)


class RecordedSendingServer(RecordedExchange):
    """The recorded server as the sender sees it: CreateItem, and GetFolder to keep a copy in Sent Items."""

    def answer(self, operation: str, body: str) -> str:
        if operation == "CreateItem":
            return fill("create-item-send.xml")
        return super().answer(operation, body)

    @classmethod
    def created(cls) -> list[ET.Element]:
        """Every CreateItem request the server received, parsed."""
        found = [ET.fromstring(body).find("s:Body/m:CreateItem", NS) for op, body in cls.calls if op == "CreateItem"]
        assert None not in found, "every CreateItem is a SOAP envelope"
        return [element for element in found if element is not None]


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RecordedSendingServer]]:
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", RecordedSendingServer)
    RecordedSendingServer.overrides = {}
    RecordedSendingServer.calls = []
    close_connections()  # exchangelib caches protocols and their sessions across tests
    yield RecordedSendingServer
    close_connections()


def sender(*, save_copy: bool = True) -> EwsSender:
    settings = EwsSettings(
        service_endpoint=ENDPOINT,
        address="nmss.intake@example.nhs.uk",
        auth="basic",
        username="nmss.intake@example.nhs.uk",
        password=SecretStr("not-a-real-password"),
    )
    return EwsSender(lambda: account_for(settings), save_copy=save_copy)


def message() -> EmailMessage:
    """A message about an invented patient, to their pharmacy (the team's messages carry patient details)."""
    sent = EmailMessage()
    sent["From"] = "NMSS <nmss.intake@example.nhs.uk>"
    sent["To"] = f"{PERSON.pharmacy.name} <{PERSON.pharmacy.email}>"
    sent["Subject"] = f"NMSS referral for {PERSON.full_name}"
    sent["Message-ID"] = make_msgid(domain="example.nhs.uk")
    sent.set_content(f"{PERSON.full_name}, NHS number {PERSON.nhs_number}, born {PERSON.dob:%d/%m/%Y}.\n")
    sent.add_alternative(f"<p>{PERSON.full_name}, NHS number {PERSON.nhs_number}</p>\n", subtype="html")
    return sent


def test_exchange_receives_the_exact_message_as_base64_mime_to_send_only(exchange: type[RecordedSendingServer]) -> None:
    sent = message()

    sender(save_copy=False).send(sent, recipients=[PERSON.pharmacy.email], key="reply-NMSS-7KQ2M4PA-incomplete")

    assert exchange.operations() == ["CreateItem"], "sending needs no folder look-up"
    [request] = exchange.created()
    assert request.get("MessageDisposition") == "SendOnly"
    assert request.find("m:SavedItemFolderId", NS) is None
    [item] = request.findall("m:Items/t:Message", NS)
    mime = item.find("t:MimeContent", NS)
    assert mime is not None
    assert base64.b64decode(mime.text or "") == sent.as_bytes()
    assert [a.text for a in item.findall("t:ToRecipients/t:Mailbox/t:EmailAddress", NS)] == [PERSON.pharmacy.email]


def test_by_default_a_copy_of_the_sent_message_is_kept_in_sent_items(exchange: type[RecordedSendingServer]) -> None:
    sent = message()

    sender().send(sent, recipients=[PERSON.pharmacy.email], key="k")

    [request] = exchange.created()
    assert request.get("MessageDisposition") == "SendAndSaveCopy"
    folder = request.find("m:SavedItemFolderId/t:DistinguishedFolderId", NS)
    assert folder is not None
    assert folder.get("Id") == "sentitems"
    mime = request.find("m:Items/t:Message/t:MimeContent", NS)
    assert mime is not None
    assert base64.b64decode(mime.text or "") == sent.as_bytes()


def test_a_recipient_exchange_refuses_is_rejected_for_good(exchange: type[RecordedSendingServer]) -> None:
    exchange.overrides["CreateItem"] = REFUSED

    with pytest.raises(SendRejected) as raised:
        sender(save_copy=False).send(message(), recipients=[PERSON.pharmacy.email], key="k")

    assert raised.value.reason == "ErrorInvalidRecipients"
    assert exchange.operations() == ["CreateItem"], "no retry inside the sender"


@pytest.mark.parametrize("answer", [BUSY, UNAVAILABLE], ids=["ErrorServerBusy", "HTTP 503"])
def test_a_busy_or_unavailable_server_defers_the_message_and_the_next_attempt_sends_it(
    exchange: type[RecordedSendingServer], answer: tuple[int, str]
) -> None:
    ews = sender(save_copy=False)
    exchange.overrides["CreateItem"] = answer

    with pytest.raises(SendDeferred) as raised:
        ews.send(message(), recipients=[PERSON.pharmacy.email], key="k")

    assert not isinstance(raised.value, SendRejected)
    assert raised.value.reason == "ErrorServerBusy"
    assert exchange.operations() == ["CreateItem"], "exchangelib does not wait and retry on its own"

    exchange.overrides.clear()
    ews.send(message(), recipients=[PERSON.pharmacy.email], key="k")

    assert exchange.operations() == ["CreateItem", "CreateItem"]


@pytest.mark.parametrize("answer", [REFUSED, BUSY, UNAVAILABLE], ids=["refused", "busy", "unavailable"])
def test_neither_patient_details_nor_exchanges_own_text_reach_the_error_or_its_traceback(
    exchange: type[RecordedSendingServer], answer: tuple[int, str]
) -> None:
    exchange.overrides["CreateItem"] = answer

    with pytest.raises((SendRejected, SendDeferred)) as raised:
        sender().send(message(), recipients=[PERSON.pharmacy.email], key="k")

    logged = "".join(traceback.format_exception(raised.value))  # what log.exception would write
    assert re.fullmatch(r"Error\w+", str(raised.value))
    for text in (
        PERSON.full_name,
        PERSON.surname,
        PERSON.nhs_number,
        PERSON.pharmacy.email,
        PERSON.pharmacy.name,
        f"{PERSON.dob:%d/%m/%Y}",
        *SERVER_TEXTS,
    ):
        assert text not in str(raised.value)
        assert text not in logged
