"""Files and folders only the service's own user can open: everything that may hold patient data.

The database, its ``-wal`` and ``-shm`` files, the Maildir, the outbox and the state files hold names, NHS
numbers, dates of birth and whole messages. Their modes are set explicitly (0600 files, 0700 folders) rather
than left to the umask, which is often 022 and sometimes 000. An existing file or folder that others can open
is tightened, with one warning, so an install made by an older version is mended on its next start.

It lives in ``notifier``, the innermost layer that writes files, so the outbox here and the store, mailboxes
and state files in ``intake`` share one definition of "private".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

FILE_MODE = 0o600
FOLDER_MODE = 0o700
OTHERS = 0o077
"""The group's and everyone else's permission bits: none of them may be set."""

log = structlog.get_logger("notifier.private_files")


def private_folder(path: Path, *, kind: str, shared: bool = False) -> Path:
    """Make sure ``path`` is a folder only its owner can open, and return it.

    Missing folders on the way, ``path`` included, are created 0700 whatever the umask. An existing ``path``
    that others can open is tightened, unless ``shared``; its existing parents are always left alone.

    Args:
        path: the folder.
        kind: what it holds, for the warning (``database``, ``mailbox``, ``outbox``, ``state``).
        shared: ``path`` may be a folder the service does not own alone (the working directory, a home), so
            an existing one is left as it is; the files the service puts in it are private themselves.

    Raises:
        OSError: the folder cannot be created.
    """
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(FOLDER_MODE)
        except FileExistsError:
            continue  # made by another process meanwhile: it is tightened below if it is ``path``
        folder.chmod(FOLDER_MODE)  # mkdir's mode passes through the umask; chmod's does not
    if not shared:
        tighten(path, kind=kind)
    return path


def private_file(path: Path, *, kind: str) -> Path:
    """Make sure the file ``path`` exists and only its owner can open it (created empty, 0600), and return it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        tighten(path, kind=kind)
        return path
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def create_private(path: Path) -> int:
    """Create the new file ``path``, 0600 whatever the umask, and return a descriptor open for writing.

    Raises:
        FileExistsError: ``path`` exists already (nothing is overwritten).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def tighten(path: Path, *, kind: str, quiet: bool = False) -> None:
    """Take the group's and others' permissions off ``path`` when it has any; a missing path is left alone.

    The change is logged as one warning unless ``quiet``. A path this user may not change (owned by another)
    is logged and left as it is: the service goes on, and the warning says what to fix.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & OTHERS:
        return
    try:
        path.chmod(mode & ~OTHERS)
    except PermissionError:
        log.warning("permissions.too_open", kind=kind, mode=f"{mode:o}")
        return
    if not quiet:
        log.warning("permissions.tightened", kind=kind, mode=f"{mode:o}")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` in place, creating it 0600 whatever the umask; a regular file that others can
    read is tightened first, quietly (the person asked for this very file).

    In place rather than through a renamed temporary file: ``path`` is whatever a person named on the command
    line, which may be a device (``/dev/stdout``) or a link that must stay one.

    Raises:
        OSError: the file cannot be written (``ENOSPC`` when the disk is full).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        status = os.fstat(fd)
        if stat.S_ISREG(status.st_mode) and stat.S_IMODE(status.st_mode) & OTHERS:
            os.fchmod(fd, stat.S_IMODE(status.st_mode) & ~OTHERS)
        handle.write(data)
