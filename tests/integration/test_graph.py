"""Microsoft Graph as the intake mailbox, against recorded Entra ID and Graph responses (tests/recordings/graph).

Nothing leaves the machine: every request goes to ``httpx.MockTransport``, which answers from the recordings
and fails the test on any request it has no recording for.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import GraphSettings
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.health import MailboxStateStore
from intake.mailboxes.graph import GraphMailbox
from intake.pipeline import Services, take_new_mail
from intake.store import AuditEvent, MessageRecord, OutboxRecord, QuarantineRecord
from samples.scenarios import accepted, incomplete, misrouted
from tests.services import pipeline_services

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "graph"
TENANT = "7f1a2b3c-0000-4000-8000-000000000999"
LOGIN = f"https://login.microsoftonline.com/{TENANT}"
GRAPH = "https://graph.microsoft.com/v1.0/users/nmss.intake@nhs.net"
DELTA_START = (
    f"{GRAPH}/mailFolders/inbox/messages/delta?$select=id,receivedDateTime"
    "&$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')"
)
ROOT_CHILDREN = f"{GRAPH}/mailFolders/msgfolderroot/childFolders"
TODAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 2, 9, 10, tzinfo=dt.UTC)

# The three messages of the recorded first round, oldest first (page 2 holds the oldest).
EARLIEST = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AZMIuC0v_gEWmNlEPNnzR_gAAA0OZRAAA"
MIDDLE = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AZMIuC0v_gEWmNlEPNnzR_gAAA0OZRQAA"
LATEST = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AZMIuC0v_gEWmNlEPNnzR_gAAA0OZRgAA"
MIDDLE_LISTED_SIZE = '"61873"'  # as delta-page-1.json gives it
GIGABYTE = 1_105_954_816  # 1.03 GiB, as the message that blocked the mailbox

Answer = httpx.Response | Exception


def recorded(name: str, status: int = 200, headers: dict[str, str] | None = None, **replace: str) -> httpx.Response:
    body = (RECORDINGS / name).read_text()
    for old, new in replace.items():
        body = body.replace(old, new)
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


class RecordedMicrosoft:
    """Entra ID and Graph as recorded: each request is looked up by method and decoded URL.

    ``on`` queues answers for one request; the last answer repeats. Requests are kept for assertions.
    """

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.requests: list[httpx.Request] = []
        self.on("GET", f"{LOGIN}/v2.0/.well-known/openid-configuration", recorded("openid-configuration.json"))
        self.on("POST", f"{LOGIN}/oauth2/v2.0/token", recorded("token.json"))

    def on(self, method: str, url: str, *answers: Answer) -> None:
        self.answers.setdefault(f"{method} {url}", []).extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {unquote(str(request.url))}"
        queue = self.answers.get(key)
        if not queue:
            raise AssertionError(f"no recording for {key}")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sent(self, method: str, url_prefix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and unquote(str(r.url)).startswith(url_prefix)]

    def first_round(self) -> None:
        """The folder holds three sample emails; Accepted exists already, other folders do not."""
        self.on("GET", DELTA_START, recorded("delta-page-1.json"))
        page_1 = json.loads((RECORDINGS / "delta-page-1.json").read_text())
        self.on("GET", unquote(page_1["@odata.nextLink"]), recorded("delta-page-2.json"))
        for message_id, scenario in ((EARLIEST, accepted), (MIDDLE, incomplete), (LATEST, misrouted)):
            raw = scenario(TODAY, seed=5).raw
            self.on("GET", f"{GRAPH}/messages/{message_id}/$value", httpx.Response(200, content=raw))
            self.on("POST", f"{GRAPH}/messages/{message_id}/move", recorded("message-moved.json", 201))
        for folder in ("Incomplete", "Misrouted"):
            self.on("GET", folder_lookup(folder), recorded("child-folders-none.json"))
        self.on("GET", folder_lookup("Accepted"), recorded("child-folders-accepted.json"))
        self.on("POST", ROOT_CHILDREN, recorded("mail-folder-created.json", 201))


def folder_lookup(name: str) -> str:
    return f"{ROOT_CHILDREN}?$filter=displayName eq '{name}'&$select=id,displayName"


@pytest.fixture
def microsoft() -> RecordedMicrosoft:
    return RecordedMicrosoft()


@pytest.fixture
def services(database_engine: Engine, tmp_path: Path) -> Services:
    return pipeline_services(database_engine, tmp_path / "outbox", clock=lambda: NOW)


MailboxFactory = Callable[..., GraphMailbox]


@pytest.fixture
def graph_mailbox(microsoft: RecordedMicrosoft, database_engine: Engine) -> MailboxFactory:
    """A new GraphMailbox each call, as a restarted service makes one; all share the recordings and database.

    Keyword arguments go to GraphMailbox (``max_message_bytes``)."""
    settings = GraphSettings(
        tenant_id=TENANT,
        client_id="5e0b7c1d-0000-4000-8000-000000000123",
        client_secret=SecretStr("not-a-real-secret"),
        user="nmss.intake@nhs.net",
    )

    def make(**options: Any) -> GraphMailbox:
        client = httpx.Client(transport=httpx.MockTransport(microsoft))
        state = MailboxStateStore(database_engine, "intake")
        return GraphMailbox(settings, name="intake", state=state, client=client, clock=lambda: NOW, **options)

    return make


def test_each_message_in_the_folder_is_taken_oldest_first_and_moved_to_its_outcome_folder(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services
) -> None:
    microsoft.first_round()
    mailbox = graph_mailbox()

    taken = take_new_mail(mailbox, services)

    assert [(t.outcome, t.folder) for t in taken] == [
        ("accepted", "Accepted"),
        ("incomplete", "Incomplete"),
        ("misrouted", "Misrouted"),
    ]
    moves = [(r.url.path.split("/")[-2], json.loads(r.content)) for r in microsoft.sent("POST", f"{GRAPH}/messages/")]
    accepted_id = json.loads((RECORDINGS / "child-folders-accepted.json").read_text())["value"][0]["id"]
    created_id = json.loads((RECORDINGS / "mail-folder-created.json").read_text())["id"]
    assert moves == [
        (EARLIEST, {"destinationId": accepted_id}),
        (MIDDLE, {"destinationId": created_id}),
        (LATEST, {"destinationId": created_id}),
    ]
    created = [json.loads(r.content) for r in microsoft.sent("POST", ROOT_CHILDREN)]
    assert created == [{"displayName": "Incomplete"}, {"displayName": "Misrouted"}]


def test_a_message_listed_over_the_size_limit_is_quarantined_without_reading_it_and_the_next_is_read(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, database_engine: Engine
) -> None:
    microsoft.first_round()
    microsoft.answers[f"GET {DELTA_START}"] = [recorded("delta-page-1.json", **{MIDDLE_LISTED_SIZE: f'"{GIGABYTE}"'})]
    del microsoft.answers[f"GET {GRAPH}/messages/{MIDDLE}/$value"]  # asking for it fails the test
    microsoft.on("GET", folder_lookup("Quarantine"), recorded("child-folders-none.json"))

    taken = take_new_mail(graph_mailbox(), services)

    assert [(t.outcome, t.folder) for t in taken] == [
        ("accepted", "Accepted"),
        ("quarantined", "Quarantine"),
        ("misrouted", "Misrouted"),
    ]
    assert not microsoft.sent("GET", f"{GRAPH}/messages/{MIDDLE}/$value")
    with Session(database_engine) as session:
        [(ledger, kept)] = session.exec(select(MessageRecord, QuarantineRecord).join(QuarantineRecord)).all()
    assert (ledger.uid, ledger.size, ledger.error) == (MIDDLE, GIGABYTE, "too_large")
    assert kept.raw == b""


class Served(httpx.SyncByteStream):
    """A message body served in 64 KiB chunks, counting how much of it the client read."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.served = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), 65536):
            chunk = self.body[start : start + 65536]
            self.served += len(chunk)
            yield chunk


def test_content_larger_than_its_listed_size_is_read_no_further_than_the_limit(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, database_engine: Engine
) -> None:
    # PidTagMessageSize counts attachments before base64 makes them a third larger: the listing can be short.
    microsoft.first_round()
    limit = 1024 * 1024
    body = misrouted(TODAY, seed=5).raw + b"\r\n" + b"padding\r\n" * (5 * limit // 9)
    served = Served(body)
    headers = {"Content-Length": str(len(body))}
    microsoft.answers[f"GET {GRAPH}/messages/{LATEST}/$value"] = [httpx.Response(200, headers=headers, stream=served)]
    microsoft.on("GET", folder_lookup("Quarantine"), recorded("child-folders-none.json"))

    taken = take_new_mail(graph_mailbox(max_message_bytes=limit), services)

    assert [(t.outcome, t.folder) for t in taken] == [
        ("accepted", "Accepted"),
        ("incomplete", "Incomplete"),
        ("quarantined", "Quarantine"),
    ]
    assert served.served <= limit + 65536, "the stream is dropped once past the limit"
    with Session(database_engine) as session:
        ledger = session.exec(select(MessageRecord).where(MessageRecord.uid == LATEST)).one()
    assert (ledger.size, ledger.error) == (len(body), "too_large")


def test_every_graph_request_carries_the_token_and_asks_for_ids_that_survive_a_move(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services
) -> None:
    microsoft.first_round()
    mailbox = graph_mailbox()

    take_new_mail(mailbox, services)

    graph_requests = [r for r in microsoft.requests if r.url.host == "graph.microsoft.com"]
    token = json.loads((RECORDINGS / "token.json").read_text())
    assert {r.headers["Authorization"] for r in graph_requests} == {f"Bearer {token['access_token']}"}
    assert {r.headers["Prefer"] for r in graph_requests} == {'IdType="ImmutableId"'}
    assert len(microsoft.sent("POST", f"{LOGIN}/oauth2/v2.0/token")) == 1, "msal keeps the token until it expires"
    # msal counts the token's remaining life down from when it arrived: an hour, less the run so far.
    assert mailbox.token_expires_at is not None
    assert NOW + dt.timedelta(minutes=55) < mailbox.token_expires_at <= NOW + dt.timedelta(seconds=3599)


def test_the_next_round_asks_only_for_changes_and_takes_nothing_twice(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, database_engine: Engine
) -> None:
    microsoft.first_round()
    take_new_mail(graph_mailbox(), services)
    delta_link = json.loads((RECORDINGS / "delta-page-2.json").read_text())["@odata.deltaLink"]
    assert MailboxStateStore(database_engine, "intake").delta_link() == delta_link
    microsoft.on("GET", unquote(delta_link), recorded("delta-round-2.json"))

    again = take_new_mail(graph_mailbox(), services)

    assert again == []
    assert len(microsoft.sent("GET", DELTA_START)) == 1, "the restarted service resumed from the stored link"
    next_link = json.loads((RECORDINGS / "delta-round-2.json").read_text())["@odata.deltaLink"]
    assert MailboxStateStore(database_engine, "intake").delta_link() == next_link


def test_a_failed_move_mid_round_leaves_the_link_unsaved_and_the_retry_decides_nothing_twice(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, database_engine: Engine
) -> None:
    microsoft.first_round()
    microsoft.answers[f"POST {GRAPH}/messages/{MIDDLE}/move"].insert(0, recorded("error-throttled.json", 503))

    first = take_new_mail(graph_mailbox(), services)
    assert [t.filed for t in first] == [True, False, True], "the run went on past the message it could not file"
    assert MailboxStateStore(database_engine, "intake").delta_link() is None
    retried = take_new_mail(graph_mailbox(), services)

    assert retried == [], "the repeated round only files what was decided"
    with Session(database_engine) as session:
        decided = Counter(e.message_id for e in session.exec(select(AuditEvent)).all() if e.event == "decided")
        states = {m.uid: m.state for m in session.exec(select(MessageRecord)).all()}
        replies = session.exec(select(OutboxRecord)).all()
    assert sorted(decided.values()) == [1, 1, 1]
    assert states == {EARLIEST: "filed", MIDDLE: "filed", LATEST: "filed"}
    assert sorted(r.kind for r in replies) == ["reply_incomplete", "reply_misrouted"]
    assert len(microsoft.sent("POST", f"{GRAPH}/messages/{MIDDLE}/move")) == 2


def test_a_forgotten_sync_state_starts_the_folder_again_without_taking_anything_twice(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, database_engine: Engine
) -> None:
    microsoft.first_round()
    take_new_mail(graph_mailbox(), services)
    stale = MailboxStateStore(database_engine, "intake").delta_link()
    assert stale is not None
    microsoft.on("GET", unquote(stale), recorded("error-sync-state-not-found.json", 410))

    again = take_new_mail(graph_mailbox(), services)

    assert again == []
    assert len(microsoft.sent("GET", DELTA_START)) == 2
    with Session(database_engine) as session:
        assert len(session.exec(select(MessageRecord)).all()) == 3


@pytest.mark.parametrize("status", [429, 503, 504])
def test_throttling_and_outages_are_mailbox_unavailable_and_say_when_to_retry(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, status: int
) -> None:
    microsoft.on("GET", DELTA_START, recorded("error-throttled.json", status, {"Retry-After": "30"}))

    with pytest.raises(MailboxUnavailable) as raised:
        take_new_mail(graph_mailbox(), services)

    assert not isinstance(raised.value, MailboxAuthError)
    assert f"HTTP {status}" in str(raised.value)
    assert "retry after 30 s" in str(raised.value)


def test_a_timeout_is_mailbox_unavailable(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services
) -> None:
    microsoft.on("GET", DELTA_START, httpx.ReadTimeout("timed out"))

    with pytest.raises(MailboxUnavailable, match="timed out"):
        take_new_mail(graph_mailbox(), services)


@pytest.mark.parametrize(("status", "recording"), [(401, "error-unauthorized.json"), (403, "error-access-denied.json")])
def test_refused_access_is_an_auth_error_naming_the_mailbox_not_the_server_text(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services, status: int, recording: str
) -> None:
    microsoft.on("GET", DELTA_START, recorded(recording, status))

    with pytest.raises(MailboxAuthError) as raised:
        take_new_mail(graph_mailbox(), services)

    assert str(raised.value) == f"Microsoft Graph refused access to mailbox intake (HTTP {status})"


def test_a_refused_client_secret_is_an_auth_error_with_the_code_but_not_the_description(
    microsoft: RecordedMicrosoft, graph_mailbox: MailboxFactory, services: Services
) -> None:
    microsoft.answers[f"POST {LOGIN}/oauth2/v2.0/token"] = [recorded("token-invalid-client.json", 401)]

    with pytest.raises(MailboxAuthError) as raised:
        take_new_mail(graph_mailbox(), services)

    assert "invalid_client" in str(raised.value)
    assert "AADSTS" not in str(raised.value)
    assert not microsoft.sent("GET", GRAPH), "no Graph call without a token"
