"""Exchange (EWS through exchangelib) as the intake mailbox, against recorded SOAP responses (tests/recordings/ews).

exchangelib mounts ``BaseProtocol.HTTP_ADAPTER_CLS`` on every session it makes; the tests put a requests adapter
there that answers each SOAP operation from the recordings and fails on anything it has no recording for, so
nothing leaves the machine.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from exchangelib.protocol import BaseProtocol, close_connections
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import EwsSettings
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.mailbox import MailRef
from intake.mailboxes.ews import EwsMailbox
from intake.pipeline import Services, take_new_mail
from intake.store import MessageRecord, QuarantineRecord
from samples.scenarios import accepted, incomplete, misrouted
from tests.integration.recorded_ews import ENDPOINT, RECORDINGS, RecordedExchange, fill
from tests.services import pipeline_services

TODAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 2, 9, 10, tzinfo=dt.UTC)
ITEM_IDS = re.findall(r'ItemId Id="([^"]+)"', (RECORDINGS / "find-item.xml").read_text())
GIGABYTE = 1_105_954_816  # 1.03 GiB, as the message that blocked the mailbox
MOVED_ID = re.findall(r'ItemId Id="([^"]+)"', (RECORDINGS / "move-item.xml").read_text())[0]


class RecordedMailboxServer(RecordedExchange):
    """The recorded server holding messages and folders, as the mailbox adapter sees it."""

    folders: ClassVar[dict[str, str]] = {}  # display name -> folder id, under the mailbox root
    mime: ClassVar[dict[str, bytes]] = {}  # item id -> raw message
    sizes: ClassVar[dict[str, int]] = {}  # item id -> the size FindItem reports
    gone: ClassVar[set[str]] = set()  # item ids a person has moved away

    def answer(self, operation: str, body: str) -> str:
        if operation == "FindItem":
            return fill("find-item.xml", **{f"SIZE_{i}": str(self.sizes[item]) for i, item in enumerate(ITEM_IDS)})
        if operation == "GetItem":
            [item_id] = re.findall(r'ItemId Id="([^"]+)"', body)
            return fill("get-item.xml", ITEM_ID=item_id, MIME=base64.b64encode(self.mime[item_id]).decode())
        if operation == "FindFolder":
            name = re.search(r'<t:Constant Value="([^"]+)"', body)
            assert name is not None, "the service looks a folder up by its name"
            if name.group(1) not in self.folders:
                return fill("find-folder-none.xml")
            return fill("find-folder.xml", FOLDER_ID=self.folders[name.group(1)], DISPLAY_NAME=name.group(1))
        if operation == "CreateFolder":
            name = re.search(r"<t:DisplayName>([^<]+)</t:DisplayName>", body)
            assert name is not None
            self.folders[name.group(1)] = f"folder-{name.group(1)}"
            return fill("create-folder.xml", FOLDER_ID=self.folders[name.group(1)])
        if operation == "MoveItem":
            [item_id] = re.findall(r'ItemId Id="([^"]+)"', body)
            return fill("move-item-not-found.xml" if item_id in self.gone else "move-item.xml")
        return super().answer(operation, body)


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RecordedMailboxServer]]:
    """The recorded server, holding the three sample emails; Accepted exists, other folders do not."""
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", RecordedMailboxServer)
    RecordedMailboxServer.folders = {"Accepted": "folder-Accepted-existing"}
    RecordedMailboxServer.mime = {
        item_id: scenario(TODAY, seed=5).raw
        for item_id, scenario in zip(ITEM_IDS, (accepted, incomplete, misrouted), strict=True)
    }
    RecordedMailboxServer.sizes = {item_id: len(raw) for item_id, raw in RecordedMailboxServer.mime.items()}
    RecordedMailboxServer.gone = set()
    RecordedMailboxServer.overrides = {}
    RecordedMailboxServer.calls = []
    close_connections()  # exchangelib caches protocols and their sessions across tests
    yield RecordedMailboxServer
    close_connections()


def settings(**changes: Any) -> EwsSettings:
    values: dict[str, Any] = {
        "service_endpoint": ENDPOINT,
        "address": "nmss.intake@example.nhs.uk",
        "auth": "basic",
        "username": "nmss.intake@example.nhs.uk",
        "password": SecretStr("not-a-real-password"),
    }
    return EwsSettings(**(values | changes))


@pytest.fixture
def services(database_engine: Engine, tmp_path: Path) -> Services:
    return pipeline_services(database_engine, tmp_path / "outbox", clock=lambda: NOW)


def test_each_message_is_read_as_mime_oldest_first_and_moved_to_its_outcome_folder(
    exchange: type[RecordedMailboxServer], services: Services
) -> None:
    taken = take_new_mail(EwsMailbox(settings(), name="intake"), services)

    assert [(t.outcome, t.folder) for t in taken] == [
        ("accepted", "Accepted"),
        ("incomplete", "Incomplete"),
        ("misrouted", "Misrouted"),
    ]
    assert exchange.operations().count("FindItem") == 1
    assert exchange.operations().count("GetItem") == 3, "one message in memory at a time"
    assert next(b for op, b in exchange.calls if op == "GetItem").count("item:MimeContent") == 1
    moves = [
        (re.findall(r'ItemId Id="([^"]+)"', b)[0], re.search(r'FolderId Id="([^"]+)"', b))
        for op, b in exchange.calls
        if op == "MoveItem"
    ]
    assert [(item, folder.group(1) if folder else None) for item, folder in moves] == [
        (ITEM_IDS[0], "folder-Accepted-existing"),
        (ITEM_IDS[1], "folder-Incomplete"),
        (ITEM_IDS[2], "folder-Misrouted"),
    ]
    assert exchange.operations().count("CreateFolder") == 2


def test_a_message_listed_over_the_size_limit_is_quarantined_without_fetching_it_and_the_next_is_read(
    exchange: type[RecordedMailboxServer], services: Services, database_engine: Engine
) -> None:
    exchange.sizes[ITEM_IDS[1]] = GIGABYTE

    taken = take_new_mail(EwsMailbox(settings(), name="intake"), services)

    assert [(t.outcome, t.folder) for t in taken] == [
        ("accepted", "Accepted"),
        ("quarantined", "Quarantine"),
        ("misrouted", "Misrouted"),
    ]
    fetched = [re.findall(r'ItemId Id="([^"]+)"', b)[0] for op, b in exchange.calls if op == "GetItem"]
    assert fetched == [ITEM_IDS[0], ITEM_IDS[2]], "the big message's content is never asked for"
    with Session(database_engine) as session:
        [(ledger, kept)] = session.exec(select(MessageRecord, QuarantineRecord).join(QuarantineRecord)).all()
    assert (ledger.uid, ledger.size, ledger.error) == (ITEM_IDS[1], GIGABYTE, "too_large")
    assert kept.raw == b""


def test_filing_a_message_someone_has_already_moved_is_not_an_error(exchange: type[RecordedMailboxServer]) -> None:
    exchange.gone.add(ITEM_IDS[1])

    EwsMailbox(settings(), name="intake").file(MailRef("intake", "Inbox", 0, ITEM_IDS[1]), "Accepted")

    assert exchange.operations()[-1] == "MoveItem"


def test_a_busy_server_is_mailbox_unavailable(exchange: type[RecordedMailboxServer], services: Services) -> None:
    exchange.overrides["FindItem"] = (200, "find-item-server-busy.xml")

    with pytest.raises(MailboxUnavailable) as raised:
        take_new_mail(EwsMailbox(settings(), name="intake"), services)

    assert not isinstance(raised.value, MailboxAuthError)
    assert str(raised.value) == "Exchange is unavailable (ErrorServerBusy)"


def test_refused_credentials_are_an_auth_error(exchange: type[RecordedMailboxServer], services: Services) -> None:
    exchange.overrides["GetFolder"] = (401, "")

    with pytest.raises(MailboxAuthError, match="Exchange refused access"):
        take_new_mail(EwsMailbox(settings(), name="intake"), services)


def test_basic_credentials_go_with_every_request_and_there_is_no_token(
    exchange: type[RecordedMailboxServer], services: Services
) -> None:
    mailbox = EwsMailbox(settings(), name="intake")
    take_new_mail(mailbox, services)

    assert mailbox.token_expires_at is None
    assert "Exchange2013" in exchange.calls[0][1], "requests in a schema every on-premises version understands"
