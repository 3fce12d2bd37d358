"""The interface every mailbox adapter implements: Maildir now; IMAP, Microsoft Graph and Exchange later.

The pipeline asks a mailbox for what is waiting and, once its decision is committed, asks it to file each
message away in a folder named for the outcome. A mailbox keeps no record of what was processed: the ledger
does, so an adapter can be naive and the service still takes each message exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class MailRef:
    """Where a message sits: the source's name, folder, UIDVALIDITY (0 where the transport has none) and UID."""

    source: str
    folder: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class IncomingMail:
    """One waiting message: where it is, its raw RFC 5322 bytes and when the mailbox received it."""

    ref: MailRef
    raw: bytes
    received_at: dt.datetime


@runtime_checkable
class Mailbox(Protocol):
    """**Protocol:** a source of referral mail.

    ``fetch_new`` yields every message still in the intake folder, oldest first, without marking anything
    read. ``file`` moves one message to ``folder`` (created if missing); filing a message that is already
    there, or already gone, is not an error, so a retry after a crash is safe.
    """

    name: str

    def fetch_new(self) -> Iterator[IncomingMail]: ...

    def file(self, ref: MailRef, folder: str) -> None: ...
