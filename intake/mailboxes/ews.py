"""Exchange Web Services (exchangelib) as the intake mailbox: for on-premises Exchange.

Exchange Online blocks EWS from 1 October 2026 and switches it off on 1 April 2027, so NHSmail uses IMAP with
XOAUTH2 or Microsoft Graph instead; this adapter serves on-premises Exchange (NTLM or basic credentials) and,
until then, Exchange Online through OAuth 2.0 client credentials with impersonation.

Listing is one FindItem (ids, sizes and received times, oldest first); each message's MIME content is then
fetched by its own GetItem so only one message is in memory at a time. A message listed over
``max_message_bytes`` is not fetched: it is handed over unread, for the pipeline to quarantine (GetItem has no
way to read part of one). Filing is a MoveItem into a folder under the mailbox root, made with CreateFolder
when missing. The account comes from ``microsoft.exchange``, which the EWS sender shares; exchangelib's own
retries are off there (``FailFast``), so a busy or unreachable server becomes MailboxUnavailable and the next
poll tries again; refused credentials become MailboxAuthError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from exchangelib import Account, Folder
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    EWSError,
    UnauthorizedError,
)
from exchangelib.services import CreateFolder
from oauthlib.oauth2 import OAuth2Error  # type: ignore[import-untyped]

from config.settings import MAX_MESSAGE_BYTES, EwsSettings, Settings
from intake.errors import MailboxAuthError, MailboxUnavailable
from intake.mailbox import DeltaStore, IncomingMail, MailRef
from microsoft.exchange import account_for

_AUTH_ERRORS = (UnauthorizedError, ErrorAccessDenied, ErrorImpersonateUserDenied, ErrorNonExistentMailbox, OAuth2Error)


class EwsMailbox:
    """The folder ``settings.folder`` of an Exchange mailbox, read and filed through EWS.

    ``token_expires_at`` is when the OAuth 2.0 access token expires (None for NTLM and basic credentials).
    """

    def __init__(
        self,
        settings: EwsSettings,
        *,
        name: str,
        account: Callable[[EwsSettings], Account] = account_for,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.settings = settings
        self.name = name
        self.max_message_bytes = max_message_bytes
        self._make_account = account
        self._account: Account | None = None
        self._folders: dict[str, Any] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        state: DeltaStore,  # noqa: ARG003 - every mailbox is built alike; EWS lists the whole folder each poll
        clock: Callable[[], dt.datetime],  # noqa: ARG003 - and its times are Exchange's
    ) -> EwsMailbox:
        """The folder ``[mailbox.ews]`` names, through the account ``microsoft.exchange.account_for`` builds."""
        return cls(
            settings.mailbox.ews, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes
        )

    @property
    def token_expires_at(self) -> dt.datetime | None:
        token = getattr(self._account.protocol.credentials, "access_token", None) if self._account else None
        expires = token.get("expires_at") if isinstance(token, dict) else None
        return dt.datetime.fromtimestamp(float(expires), dt.UTC) if expires else None

    def fetch_new(self) -> Iterator[IncomingMail]:
        """Every message in the intake folder, oldest first, as raw MIME."""
        with self._translated():
            account = self._connect()
            folder = account.inbox if self.settings.folder.lower() == "inbox" else self._folder(self.settings.folder)
            listed = list(
                folder.all().order_by("datetime_received").only("id", "changekey", "datetime_received", "size")
            )
        for summary in listed:
            ref = MailRef(self.name, self.settings.folder, 0, summary.id)
            received = dt.datetime.fromtimestamp(
                (summary.datetime_received or dt.datetime.now(dt.UTC)).timestamp(), dt.UTC
            )
            if summary.size is not None and summary.size > self.max_message_bytes:
                yield IncomingMail.over_limit(ref, received, summary.size)
                continue
            with self._translated():
                [item] = list(account.fetch(ids=[(summary.id, summary.changekey)], only_fields=["mime_content"]))
            if isinstance(item, ErrorItemNotFound):
                continue  # moved or deleted by someone since the listing: not ours any more
            if isinstance(item, Exception):
                raise _translate(item)
            yield IncomingMail(ref=ref, raw=bytes(item.mime_content or b""), received_at=received)

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:  # noqa: ARG002 - see below
        """Move message ``ref`` to the folder ``folder`` under the mailbox root (created if missing).

        ``again`` changes nothing: MoveItem is one operation on the server, never left half done.
        """
        with self._translated():
            account = self._connect()
            results = account.bulk_move(ids=[(ref.uid, None)], to_folder=self._folder(folder))
        for result in results:
            if isinstance(result, ErrorItemNotFound):
                continue  # moved or deleted by a person already: filing is done, as far as we can
            if isinstance(result, Exception):
                raise _translate(result)

    def _connect(self) -> Account:
        if self._account is None:
            self._account = self._make_account(self.settings)
        return self._account

    def _folder(self, name: str) -> Any:
        if name not in self._folders:
            root = self._connect().msg_folder_root
            try:
                self._folders[name] = root // name
            except ErrorFolderNotFound:
                self._folders[name] = self._create_folder(root, name)
        return self._folders[name]

    def _create_folder(self, root: Any, name: str) -> Any:
        # CreateFolder itself, not Folder.save(): save() then caches the mailbox's whole folder tree, one deep
        # FindFolder that a large shared mailbox pays for on every start.
        folder = Folder(parent=root, name=name)
        try:
            created = CreateFolder(account=self._connect()).get(parent_folder=root, folders=[folder])
        except ErrorFolderExists:  # made by another client between our look and our create
            return root // name
        folder._id = Folder.ID_ELEMENT_CLS(created.id, created.changekey)
        return folder

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (EWSError, OAuth2Error, requests.RequestException) as exc:
            raise _translate(exc) from exc


def _translate(error: Exception) -> MailboxUnavailable:
    """Our error for an exchangelib one, by class: exception text from a server never leaves this module."""
    if isinstance(error, _AUTH_ERRORS):
        return MailboxAuthError(f"Exchange refused access ({type(error).__name__})")
    return MailboxUnavailable(f"Exchange is unavailable ({type(error).__name__})")
