"""Microsoft Graph as the intake mailbox (Exchange Online, NHSmail): httpx for the calls, tokens from Entra ID.

New mail comes from a delta query over the intake folder (``/users/{user}/mailFolders/{folder}/messages/delta``):
the first round lists every message in the folder, later rounds only what changed. The ``@odata.deltaLink``
that ends a round is kept in the database and saved only once every message of the round has been handed
over, so a crash mid-round asks for the same changes again and the ledger drops what it has already taken.

Sizes come with the listing: Graph's message resource has no size of its own, so the delta query expands the
MAPI property PidTagMessageSize (``Integer 0x0E08``). A message listed over ``max_message_bytes`` is handed
over unread; the MIME content of the others is streamed and read no further than one byte past the limit,
since the MAPI size counts attachments before their base64 encoding makes them a third larger.

Every request asks for immutable ids (``Prefer: IdType="ImmutableId"``): a message keeps its id when it is
moved, so the ledger's key still finds it in its folder, and ``replay`` can move it on from ``Quarantine``.
Throttling (429, 503 and 504 with ``Retry-After``), server errors and timeouts become MailboxUnavailable;
401 and 403 become MailboxAuthError, and so does a token Entra ID refuses. No error text carries anything from a
message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from config.settings import MAX_MESSAGE_BYTES, GraphSettings, Settings
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.mailbox import DeltaStore, IncomingMail, MailRef
from microsoft.entra import GRAPH_SCOPE, AccessTokens, TokenProvider, TokenRefused, TokenUnreachable

PREFER = 'IdType="ImmutableId"'
RETRYABLE = frozenset({429, 500, 502, 503, 504})
AUTH = frozenset({401, 403})
SIZE_PROPERTY = "Integer 0x0E08"
"""PidTagMessageSize as a Graph single-value extended property: the message's size in bytes, per Exchange."""


class GraphMailbox:
    """The folder ``settings.folder`` of the mailbox ``settings.user``, read and filed through Microsoft Graph.

    ``tokens`` defaults to a client-credentials TokenProvider for ``settings``' app registration, asking Entra ID
    through ``client``; ``state`` keeps the delta link between polls.
    """

    def __init__(
        self,
        settings: GraphSettings,
        *,
        name: str,
        state: DeltaStore,
        client: httpx.Client | None = None,
        tokens: AccessTokens | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.settings = settings
        self.name = name
        self.max_message_bytes = max_message_bytes
        self.state = state
        self.client = client or httpx.Client(timeout=settings.timeout_seconds)
        self.tokens = tokens or TokenProvider(settings, scopes=[GRAPH_SCOPE], http_client=self.client, clock=clock)
        self._folders: dict[str, str] = {}
        self._move_failed = False
        self._base = f"{settings.graph_url.rstrip('/')}/users/{quote(settings.user, safe='@')}"

    @classmethod
    def from_settings(cls, settings: Settings, *, state: DeltaStore, clock: Callable[[], dt.datetime]) -> GraphMailbox:
        """The mailbox ``[mailbox.graph]`` describes, its delta link kept in ``state``."""
        return cls(
            settings.mailbox.graph,
            name=settings.mailbox.name,
            state=state,
            clock=clock,
            max_message_bytes=settings.limits.max_message_bytes,
        )

    @property
    def token_expires_at(self) -> dt.datetime | None:
        """When the access token last obtained expires (None before the first request)."""
        return self.tokens.expires_at

    def fetch_new(self) -> Iterator[IncomingMail]:
        """Every message added to the folder since the last complete round, oldest first, as raw MIME.

        The round's delta link is saved only once every message was handed over and none failed to move: the
        pipeline goes on past a message it could not file, and only a repeated round lists that one again.
        """
        self._move_failed = False
        items, delta_link = self._changes()
        for item in sorted(items, key=lambda i: (i.get("receivedDateTime") or "", i["id"])):
            ref = MailRef(self.name, self.settings.folder, 0, item["id"])
            received = _parse_time(item.get("receivedDateTime"))
            listed = _size(item)
            if listed is not None and listed > self.max_message_bytes:
                yield IncomingMail.over_limit(ref, received, listed)
                continue
            content = self._content(item["id"])
            if content is None:
                continue  # moved or deleted by someone since the listing: not ours any more
            raw, size = content
            if size > self.max_message_bytes:
                yield IncomingMail.over_limit(ref, received, size)
            else:
                yield IncomingMail(ref=ref, raw=raw, received_at=received)
        if not self._move_failed:
            self.state.save_delta_link(delta_link)

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:  # noqa: ARG002 - see below
        """Move message ``ref`` to the folder ``folder`` under the mailbox root (created if missing).

        ``again`` changes nothing: a Graph move is one operation on the server, never left half done.
        """
        try:
            destination = self._folder_id(folder)
            self._request(
                "POST", f"{self._base}/messages/{quote(ref.uid, safe='')}/move", json={"destinationId": destination}
            )
        except BaseException:
            self._move_failed = True
            raise
        # A 404 means deleted or moved away by a person already: filing is then done, as far as we can.

    def _content(self, message_id: str) -> tuple[bytes, int] | None:
        """The message's MIME content and its size, read no further than one byte past the limit; None when
        the message is gone. The size is the whole content's when Graph says it (``Content-Length``)."""
        url = f"{self._base}/messages/{quote(message_id, safe='')}/$value"
        with self._stream("GET", url) as response:
            if response.status_code == 404:
                return None
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > self.max_message_bytes:
                    break
            declared = response.headers.get("Content-Length", "")
            return bytes(content), max(len(content), int(declared) if declared.isdigit() else 0)

    def _changes(self) -> tuple[list[dict[str, Any]], str | None]:
        query = urlencode(
            {
                "$select": "id,receivedDateTime",
                "$expand": f"singleValueExtendedProperties($filter=id eq '{SIZE_PROPERTY}')",
            },
            quote_via=quote,
        )
        start = f"{self._base}/mailFolders/{quote(self.settings.folder, safe='')}/messages/delta?{query}"
        url = self.state.delta_link() or start
        found: dict[str, dict[str, Any]] = {}
        while True:
            response = self._request("GET", url)
            if response.status_code in (404, 410) and url != start:
                # Exchange forgot the sync state (410 Gone, "resync required"): list the whole folder again;
                # the ledger drops what was taken already.
                url, found = start, {}
                continue
            if response.status_code == 404:
                raise MailboxUnavailable(f"Microsoft Graph has no folder {self.settings.folder} in mailbox {self.name}")
            page = response.json()
            for item in page.get("value", []):
                if "@removed" in item:
                    found.pop(item["id"], None)
                else:
                    found[item["id"]] = item
            next_link = page.get("@odata.nextLink")
            if next_link:
                url = next_link
                continue
            return list(found.values()), page.get("@odata.deltaLink")

    def _folder_id(self, folder: str) -> str:
        if folder in self._folders:
            return self._folders[folder]
        children = f"{self._base}/mailFolders/msgfolderroot/childFolders"
        escaped = folder.replace("'", "''")
        for attempt in range(2):
            # Spaces as %20, not "+": OData reads a "+" in $filter as a plus sign.
            query = urlencode({"$filter": f"displayName eq '{escaped}'", "$select": "id,displayName"}, quote_via=quote)
            response = self._request("GET", f"{children}?{query}")
            matches = response.json().get("value", [])
            if matches:
                self._folders[folder] = str(matches[0]["id"])
                return self._folders[folder]
            created = self._request("POST", children, json={"displayName": folder})
            if created.status_code != 409 or attempt:
                # 409 (ErrorFolderExists): another client made it between our look and our create; look again.
                self._folders[folder] = str(created.json()["id"])
                return self._folders[folder]
        raise MailboxUnavailable(f"cannot create folder {folder} in mailbox {self.name}")  # pragma: no cover

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        with self._stream(method, url, **kwargs) as response:
            response.read()
        return response

    @contextmanager
    def _stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """The response to one request, its body not yet read; throttling and refusals raised as our errors."""
        try:
            access_token = self.tokens.token()
        except TokenRefused as exc:
            raise MailboxAuthError(f"{exc} (mailbox {self.name})") from exc
        except TokenUnreachable as exc:
            raise MailboxUnavailable(f"{exc} (mailbox {self.name})") from exc
        headers = {"Authorization": f"Bearer {access_token}", "Prefer": PREFER}
        try:
            with self.client.stream(method, url, headers=headers, **kwargs) as response:
                _check(response, self.name)
                yield response
        except httpx.TimeoutException as exc:
            raise MailboxUnavailable(f"Microsoft Graph timed out for mailbox {self.name}") from exc
        except httpx.TransportError as exc:
            raise MailboxUnavailable(f"cannot reach Microsoft Graph for mailbox {self.name}") from exc


def _check(response: httpx.Response, name: str) -> None:
    status = response.status_code
    if status in AUTH:
        raise MailboxAuthError(f"Microsoft Graph refused access to mailbox {name} (HTTP {status})")
    if status in RETRYABLE:
        wait = response.headers.get("Retry-After")
        after = f"; retry after {wait} s" if wait and wait.isdigit() else ""
        raise MailboxUnavailable(f"Microsoft Graph is unavailable for mailbox {name} (HTTP {status}){after}")
    if status >= 400 and status not in (404, 409, 410):
        raise MailboxUnavailable(f"Microsoft Graph answered HTTP {status} for mailbox {name}")


def _size(item: dict[str, Any]) -> int | None:
    """The size Exchange gives a listed message (PidTagMessageSize), or None when the listing has none.

    Graph writes the property's id as it likes (``Integer 0xe08``) and its value as a string (``"75321"``).
    """
    for prop in item.get("singleValueExtendedProperties") or []:
        if _names_size(str(prop.get("id", ""))):
            value = str(prop.get("value", ""))
            return int(value) if value.isdigit() else None
    return None


def _names_size(property_id: str) -> bool:
    kind, _, tag = property_id.partition(" ")
    try:
        return kind.lower() == "integer" and int(tag, 16) == 0x0E08
    except ValueError:
        return False


def _parse_time(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
