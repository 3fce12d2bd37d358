"""A local Maildir as the intake mailbox: the embedded default, and the mailbox the tests deliver into.

New mail is any file in ``new/`` or ``cur/`` of the top folder. Each file is measured (``stat``) before it is
read: one over ``max_message_bytes`` is handed over unread. Filing renames the
file into the Maildir++ subfolder ``.<Folder>/cur/``: one ``rename(2)`` on one filesystem, so a kill at any
instant leaves the message in exactly one place.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from config.settings import MAX_MESSAGE_BYTES, Settings
from intake.errors import MailboxUnavailable
from intake.mailbox import DeltaStore, IncomingMail, MailRef
from notifier.private_files import private_folder, tighten

INBOX = "INBOX"


class MaildirMailbox:
    """Reads and files messages in the Maildir at ``path`` (created 0700, with its three folders, on first read)."""

    def __init__(self, path: Path, name: str = "maildir", *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.path = path
        self.name = name
        self.max_message_bytes = max_message_bytes
        self._seen: dict[str, str] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        state: DeltaStore,  # noqa: ARG003 - every mailbox is built alike; a Maildir keeps no place
        clock: Callable[[], dt.datetime],  # noqa: ARG003 - and its times are the files'
    ) -> MaildirMailbox:
        """The Maildir at ``mailbox.path``."""
        return cls(
            settings.mailbox.path, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes
        )

    def fetch_new(self) -> Iterator[IncomingMail]:
        """Every message in ``new/`` and ``cur/``, oldest first (by delivery time, then name)."""
        try:
            _private_maildir(self.path)
            entries = [entry for sub in ("new", "cur") for entry in os.scandir(self.path / sub) if entry.is_file()]
        except OSError as exc:
            raise MailboxUnavailable(f"cannot list Maildir {self.name}") from exc
        entries.sort(key=lambda entry: (entry.stat().st_mtime_ns, entry.name))
        for entry in entries:
            ref = MailRef(self.name, INBOX, 0, _key(entry.name))
            try:
                incoming = self._read(entry, ref)
            except FileNotFoundError:
                continue  # filed by another process since the listing: not ours any more
            self._seen[ref.uid] = entry.path
            yield incoming

    def _read(self, entry: os.DirEntry[str], ref: MailRef) -> IncomingMail:
        status = entry.stat()
        received = dt.datetime.fromtimestamp(status.st_mtime, dt.UTC)
        if status.st_size > self.max_message_bytes:
            return IncomingMail.over_limit(ref, received, status.st_size)
        with Path(entry.path).open("rb") as file:
            # No further than the limit even so: a file still being written may have grown since the listing.
            raw = file.read(self.max_message_bytes + 1)
        if len(raw) > self.max_message_bytes:
            return IncomingMail.over_limit(ref, received, len(raw))
        return IncomingMail(ref=ref, raw=raw, received_at=received)

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:  # noqa: ARG002 - see below
        """Move the message ``ref`` into ``.<folder>/cur/``; a message no longer in the inbox is left alone.

        ``again`` changes nothing: a rename is never half done, so a copy cannot be left behind.
        """
        target = _private_maildir(self.path / f".{folder}")
        known = self._seen.pop(ref.uid, None)
        for path in [known] if known else self._find(ref.uid):
            name = Path(path).name
            if ":" not in name:
                name += ":2,"  # Maildir's "seen" info, as a mail reader adds when it moves a message to cur/
            try:
                Path(path).rename(target / "cur" / name)
            except FileNotFoundError:
                continue
            # Mail delivered by an MTA carries its umask; once filed it is ours. Quiet: that is no misconfiguration.
            tighten(target / "cur" / name, kind="mailbox", quiet=True)
            return

    def _find(self, uid: str) -> list[str]:
        # After a restart the path is not known, and a mail reader may have changed the flags in the name.
        return [
            entry.path for sub in ("new", "cur") for entry in os.scandir(self.path / sub) if _key(entry.name) == uid
        ]

    def folder(self, folder: str) -> Path:
        """The path of the Maildir++ subfolder ``folder`` (for tests and the demo's report)."""
        return self.path / f".{folder}"


def _private_maildir(path: Path) -> Path:
    """Create (or tighten) the Maildir folder ``path`` and its tmp, new and cur: they hold whole referrals."""
    private_folder(path, kind="mailbox")
    for sub in ("tmp", "new", "cur"):
        private_folder(path / sub, kind="mailbox")
    return path


def _key(filename: str) -> str:
    # Maildir readers append ":2,FLAGS" when they see a message; the part before it names the message.
    return filename.split(":", 1)[0]
