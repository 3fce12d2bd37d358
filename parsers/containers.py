"""Files inside mail containers: Outlook ``.msg`` items (extract-msg) and TNEF ``winmail.dat`` (tnefparse).

Both functions take a container's bytes and return the files it holds as ``(filename, bytes)`` pairs, in the
order they appear, with the attachments of any message attached as an item (a forwarded email dragged into
the message) followed down to ``MAX_DEPTH`` levels. They do no I/O and never log. A container that cannot be
opened raises :class:`ContainerError`, whose message names no file and no content; the caller decides what an
unopenable container means. File names are returned as the container stored them: the caller sanitises them.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Final

import extract_msg
from extract_msg.enums import AttachmentType
from extract_msg.msg_classes.msg import MSGFile
from tnefparse.tnef import TNEF, TNEFAttachment

MAX_DEPTH: Final = 4
"""How many attached messages deep a container is searched; deeper items are left out."""

MAX_FILES: Final = 200
"""Most files taken from one container; an item holding more is read only this far."""

MAX_TNEF_OBJECTS: Final = 20_000
"""Most TNEF attributes in a ``winmail.dat``. tnefparse copies the rest of the file for each attribute, so a
file of many tiny attributes costs time quadratic in its size; real ones hold a few dozen."""

TNEF_SIGNATURE: Final = 0x223E9F78

_EMBEDDED: Final = (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED)
"""Attachment types that are messages attached as items, whose own attachments are searched."""


class ContainerError(Exception):
    """Raised when a container's bytes cannot be opened as what they claim to be."""


def msg_files(data: bytes) -> list[tuple[str, bytes]]:
    """The files attached to an Outlook ``.msg`` item, and those of any message attached to it as an item.

    Raises:
        ContainerError: ``data`` is not an Outlook item extract-msg can open.
    """
    try:
        message = extract_msg.openMsg(data, strict=False, delayAttachments=False)
    except Exception as exc:  # noqa: BLE001 - olefile and extract-msg raise many kinds on hostile bytes
        raise ContainerError(f"not a readable Outlook item ({type(exc).__name__})") from None
    try:
        files = list(_limit(_msg_attachments(message, depth=0)))
    except RecursionError:
        raise ContainerError("Outlook item nested too deeply") from None
    finally:
        _close(message)
    return files


def _msg_attachments(message: MSGFile, depth: int) -> Iterator[tuple[str, bytes]]:
    for number, attachment in enumerate(getattr(message, "attachments", ()), start=1):
        try:
            kind = attachment.type
            payload = attachment.data
        except Exception:  # noqa: BLE001, S112 - one broken attachment must not hide the others
            continue
        if kind is AttachmentType.DATA and isinstance(payload, bytes):
            yield _msg_name(attachment, number), payload
        elif kind in _EMBEDDED and isinstance(payload, MSGFile) and depth < MAX_DEPTH:
            yield from _msg_attachments(payload, depth + 1)


def _msg_name(attachment: object, number: int) -> str:
    for attribute in ("longFilename", "shortFilename", "displayName"):
        try:
            value = getattr(attachment, attribute)
        except Exception:  # noqa: BLE001, S112 - an undecodable name property: try the next one
            continue
        if isinstance(value, str) and value.strip("\x00 "):
            return value.strip("\x00 ")
    return f"attachment-{number}"


def _close(message: MSGFile) -> None:
    # Closing an in-memory item cannot lose anything, whatever it raises.
    with contextlib.suppress(Exception):
        message.close()


def tnef_files(data: bytes) -> list[tuple[str, bytes]]:
    """The files in a TNEF ``winmail.dat``, and those of any message embedded in it.

    Raises:
        ContainerError: ``data`` is not TNEF, or is built to be slow to read.
    """
    _check_tnef(data)
    try:
        tnef = TNEF(data, do_checksum=False)
    except RecursionError:
        raise ContainerError("TNEF nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - tnefparse raises ValueError, struct.error, IndexError …
        raise ContainerError(f"not readable TNEF ({type(exc).__name__})") from None
    return list(_limit(_tnef_attachments(tnef, depth=0)))


def _check_tnef(data: bytes) -> None:
    """Walk the attribute headers (level, id, length, data, checksum) without copying anything."""
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != TNEF_SIGNATURE:
        raise ContainerError("not TNEF")
    offset, objects = 6, 0
    while offset + 12 < len(data):
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += length + 11
        if offset > len(data):
            # tnefparse would hand back the cut-off bytes as if they were the whole file.
            raise ContainerError("TNEF cut short")
        objects += 1
        if objects > MAX_TNEF_OBJECTS:
            raise ContainerError("TNEF with too many attributes")


def _tnef_attachments(tnef: TNEF, depth: int) -> Iterator[tuple[str, bytes]]:
    for number, attachment in enumerate(tnef.attachments, start=1):
        embedded = getattr(attachment, "embed", None)
        if isinstance(embedded, TNEF):
            if depth < MAX_DEPTH:
                yield from _tnef_attachments(embedded, depth + 1)
            continue
        if isinstance(attachment.data, bytes) and attachment.data:
            yield _tnef_name(attachment, number), attachment.data


def _tnef_name(attachment: TNEFAttachment, number: int) -> str:
    try:
        name = attachment.long_filename()
    except Exception:  # noqa: BLE001 - tnefparse decodes names as UTF-8 and raises on Windows-1252
        name = None
    if isinstance(name, bytes):
        name = name.decode("cp1252", "replace")
    if isinstance(name, str) and name.strip("\x00 "):
        return name.strip("\x00 ")
    return f"attachment-{number}"


def _limit(files: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    for count, item in enumerate(files):
        if count >= MAX_FILES:
            return
        yield item
