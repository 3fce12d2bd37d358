"""A Sender that writes each message as ``<key>.eml`` in a folder: the default transport and the test double.

A retry with the same key replaces the same file, so a crash between "written" and "recorded as sent" never
leaves two copies. Each write is atomic (temp file in the same folder, fsync, rename over): a reader sees
the old file or the new one, never half a message. A message is written only when ``check_message`` passes
it for its recipients, in UTF-8 (RFC 6532) when a recipient's local part is not ASCII.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from config.settings import Settings
from notifier.headers import check_message, serialise
from notifier.private_files import private_folder

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 120


class FileOutbox:
    """Writes messages to ``directory`` (created 0700 on first send) as ``<key>.eml`` files, 0600."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def from_settings(cls, settings: Settings) -> FileOutbox:
        """The folder ``outgoing.outbox_path``."""
        return cls(settings.outgoing.outbox_path)

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:
        """Write ``message`` for ``recipients`` to ``path_for(key)``, replacing any earlier copy with the same key.

        Raises:
            UnsafeMessage: the message fails ``check_message`` for ``recipients``; nothing is written.
            ValueError: ``key`` is empty.
            OSError: the folder cannot be written.
        """
        target = self.path_for(key)
        check_message(message, recipients)
        private_folder(self.directory, kind="outbox")
        data = serialise(message, recipients)
        # mkstemp creates the file 0600: a reply names no patient, but it is mail to a clinician all the same.
        handle, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            Path(temp_name).replace(target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(temp_name).unlink()
            raise
        _fsync_directory(self.directory)

    def path_for(self, key: str) -> Path:
        """Where the message with ``key`` is (or will be) written.

        A key that is not already a plain file name (letters, digits, ``.``, ``_``, ``-``) is made one and
        given a short hash of the original, so two different keys never share a file.
        """
        if not key:
            raise ValueError("key must not be empty")
        stem = _UNSAFE.sub("_", key).lstrip(".")[:_MAX_STEM]
        if stem != key:
            stem = f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        return self.directory / f"{stem}.eml"

    def sent(self) -> dict[str, EmailMessage]:
        """Every message in the outbox, by file name stem: what tests and ``make demo`` look at."""
        if not self.directory.is_dir():
            return {}
        found: dict[str, EmailMessage] = {}
        for path in sorted(self.directory.glob("*.eml")):
            if path.name.startswith(".tmp-"):
                continue
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            if isinstance(parsed, EmailMessage):
                found[path.stem] = parsed
        return found


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the folder itself is synced; not every platform can open a folder.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
