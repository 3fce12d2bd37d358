"""The interface every mailbox adapter implements (Maildir, IMAP, Microsoft Graph, Exchange Web Services).

The pipeline asks a mailbox for what is waiting and, once its decision is committed, asks it to file each
message away in a folder named for the outcome. A mailbox keeps no record of what was processed: the ledger
does, so an adapter can be naive and the service still takes each message exactly once.

Every adapter measures a message before it reads it. One over ``limits.max_message_bytes`` is handed over
unread (``IncomingMail.over_limit``): the pipeline quarantines it for the team and goes on to the next, so a
1 GB message costs a directory entry or a listing line, never a gigabyte of memory or of database.
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
    """One waiting message: where it is, its raw RFC 5322 bytes and when the mailbox received it.

    ``oversize`` is None for a message read whole. For a message over the size limit it is the size the
    mailbox measured, and ``raw`` is empty: nothing of the message was read.
    """

    ref: MailRef
    raw: bytes
    received_at: dt.datetime
    oversize: int | None = None

    @classmethod
    def over_limit(cls, ref: MailRef, received_at: dt.datetime, size: int) -> IncomingMail:
        """A message left unread because the mailbox measured it at ``size`` bytes, over the limit."""
        return cls(ref=ref, raw=b"", received_at=received_at, oversize=size)

    @property
    def size(self) -> int:
        """The message's size in bytes, as measured by the mailbox or as read."""
        return len(self.raw) if self.oversize is None else self.oversize


@runtime_checkable
class Mailbox(Protocol):
    """**Protocol:** a source of referral mail.

    ``fetch_new`` yields every message still in the intake folder, oldest first, without marking anything
    read. ``file`` moves one message to ``folder`` (created if missing); filing a message that is already
    there, or already gone, is not an error, so a retry after a crash is safe. The pipeline says ``again``
    when an earlier filing of the message may have been cut off (it was decided before, and is listed still):
    a mailbox whose move can be left half done (a copy made, the original not yet removed) then makes sure
    the folder does not get a second copy.
    """

    name: str

    def fetch_new(self) -> Iterator[IncomingMail]: ...

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None: ...


class DeltaStore(Protocol):
    """**Protocol:** where a mailbox keeps its place between polls: Graph's delta link
    (``intake.health.MailboxStateStore``, a row per mailbox in the database)."""

    def delta_link(self) -> str | None: ...

    def save_delta_link(self, link: str | None) -> None: ...
