"""Files inside mail containers: Outlook ``.msg`` items (extract-msg) and TNEF ``winmail.dat`` (tnefparse).

extract-msg and tnefparse are untrusted decoders with known worst cases (a 21-byte ``winmail.dat`` makes
tnefparse loop four billion times), so this module runs only in the parse workers (``intake.isolation``),
under their time limit and memory cap; the service process keeps containers closed (``parsers.mail``).

:func:`unpack` is the entry point: a container attachment in, the files worth reading out. Underneath,
:func:`msg_files` and :func:`tnef_files` take a container's bytes and return every file it holds as a
:class:`Contained`, in the order they appear, with the attachments of any message attached as an item (a
forwarded email dragged into the message) followed down to ``MAX_DEPTH`` levels. They do no I/O and never
log. A container that cannot be opened raises :class:`ContainerError`, whose message names no file and no
content; the caller decides what an unopenable container means. File names are returned as the container
stored them: the caller sanitises them. Nothing past a limit is dropped in silence: it comes back as a
:class:`Contained` with no data and ``skipped`` set.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Final, NamedTuple

import extract_msg
from extract_msg.enums import AttachmentType
from extract_msg.msg_classes.msg import MSGFile
from tnefparse.tnef import TNEF, TNEFAttachment

from parsers import may_be_a_page
from parsers.mail import DEFAULT_MAX_ATTACHMENT_BYTES, Attachment, Skipped, kept_name, sniff_kind

MAX_DEPTH: Final = 4
"""How many attached messages deep a container is searched; deeper items are reported ``too_deep``."""

MAX_CONTAINER_DEPTH: Final = 4
"""How many Outlook items or TNEF files inside one another ``unpack`` opens; a deeper one is ``too_deep``."""

MAX_FILES: Final = 200
"""Most files taken from one container; past it, the rest is reported once as ``too_many_parts``."""

MAX_TNEF_OBJECTS: Final = 20_000
"""Most TNEF attributes in a ``winmail.dat``. tnefparse copies the rest of the file for each attribute, so a
file of many tiny attributes costs time quadratic in its size; real ones hold a few dozen."""

TNEF_SIGNATURE: Final = 0x223E9F78

CONTAINED_TYPE: Final = "application/octet-stream"
"""The declared type of a file taken out of a container: Outlook and TNEF keep none that can be trusted."""

_EMBEDDED: Final = (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED)
"""Attachment types that are messages attached as items, whose own attachments are searched."""


class Contained(NamedTuple):
    """One file in a container, or (``skipped`` set, no ``data``) one it holds past a limit."""

    name: str
    data: bytes
    skipped: Skipped | None = None


class ContainerError(Exception):
    """Raised when a container's bytes cannot be opened as what they claim to be."""


def unpack(
    attachment: Attachment, *, max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES, depth: int = 0
) -> tuple[Attachment, ...]:
    """The files worth reading in ``attachment``: for an Outlook ``.msg`` or a TNEF ``winmail.dat``, the PDFs,
    Word files, page-sized pictures and containers it holds (containers opened in turn, ``MAX_CONTAINER_DEPTH``
    deep); for any other file, the file itself.

    A container that opens with nothing worth reading inside (pictures, a text body) gives ``()``. One that
    cannot be opened comes back as it is, its ``kind`` still ``msg`` or ``tnef``: the caller reports it as a
    file that could not be read. One nested too deep, a message attached as an item too deep, and the rest
    of a container holding more than ``MAX_FILES`` come back with no data and ``skipped`` set, as does an
    inner file over ``max_bytes`` (``too_large``).

    Raises:
        MemoryError: the container needs more memory than there is (the worker reports it as too large).
    """
    kind = attachment.kind
    if kind not in ("msg", "tnef") or attachment.skipped is not None:
        return (attachment,)
    if depth >= MAX_CONTAINER_DEPTH:
        return (Attachment(attachment.filename, attachment.content_type, b"", skipped="too_deep"),)
    try:
        inner = msg_files(attachment.data) if kind == "msg" else tnef_files(attachment.data)
    except ContainerError:
        return (attachment,)
    stem = attachment.filename.rpartition(".")[0] or attachment.filename
    found: list[Attachment] = []
    for number, (name, data, skipped) in enumerate(inner, start=1):
        fallback = f"{stem}-{number}"
        if skipped is not None:
            # Not read, so of no known kind: named as the item it most likely is.
            found.append(Attachment(kept_name(name, "msg", fallback), CONTAINED_TYPE, b"", skipped=skipped))
            continue
        inner_kind = sniff_kind(data, name, "")
        if inner_kind is None or (inner_kind == "image" and not may_be_a_page(data)):
            # Outlook keeps every signature's logo as an attachment: only a page-sized picture may be a form.
            continue
        filename = kept_name(name, inner_kind, fallback, data)
        if len(data) > max_bytes:
            found.append(Attachment(filename, CONTAINED_TYPE, b"", skipped="too_large"))
        else:
            found.extend(unpack(Attachment(filename, CONTAINED_TYPE, data), max_bytes=max_bytes, depth=depth + 1))
    return tuple(found)


def msg_files(data: bytes) -> list[Contained]:
    """The files attached to an Outlook ``.msg`` item, and those of any message attached to it as an item.

    Raises:
        ContainerError: ``data`` is not an Outlook item extract-msg can open.
    """
    try:
        message = extract_msg.openMsg(data, strict=False, delayAttachments=False)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - olefile and extract-msg raise many kinds on hostile bytes
        raise ContainerError(f"not a readable Outlook item ({type(exc).__name__})") from None
    try:
        files = list(_limit(_msg_attachments(message, depth=0)))
    except RecursionError:
        raise ContainerError("Outlook item nested too deeply") from None
    finally:
        _close(message)
    return files


def _msg_attachments(message: MSGFile, depth: int) -> Iterator[Contained]:
    for number, attachment in enumerate(getattr(message, "attachments", ()), start=1):
        try:
            kind = attachment.type
            payload = attachment.data
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001, S112 - one broken attachment must not hide the others
            continue
        if kind is AttachmentType.DATA and isinstance(payload, bytes):
            yield Contained(_msg_name(attachment, number), payload)
        elif kind in _EMBEDDED and isinstance(payload, MSGFile):
            if depth < MAX_DEPTH:
                yield from _msg_attachments(payload, depth + 1)
            else:
                yield Contained(_msg_name(attachment, number), b"", "too_deep")


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


def tnef_files(data: bytes) -> list[Contained]:
    """The files in a TNEF ``winmail.dat``, and those of any message embedded in it.

    Raises:
        ContainerError: ``data`` is not TNEF, or is built to be slow to read.
    """
    _check_tnef(data)
    try:
        tnef = TNEF(data, do_checksum=False)
    except RecursionError:
        raise ContainerError("TNEF nested too deeply") from None
    except MemoryError:
        raise
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


def _tnef_attachments(tnef: TNEF, depth: int) -> Iterator[Contained]:
    for number, attachment in enumerate(tnef.attachments, start=1):
        embedded = getattr(attachment, "embed", None)
        if isinstance(embedded, TNEF):
            if depth < MAX_DEPTH:
                yield from _tnef_attachments(embedded, depth + 1)
            else:
                yield Contained(_tnef_name(attachment, number), b"", "too_deep")
            continue
        if isinstance(attachment.data, bytes) and attachment.data:
            yield Contained(_tnef_name(attachment, number), attachment.data)


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


def _limit(files: Iterator[Contained]) -> Iterator[Contained]:
    for count, item in enumerate(files):
        if count >= MAX_FILES:
            # One of the files not taken may be a form: say so once rather than drop them all unseen.
            yield Contained(f"files-after-{MAX_FILES}", b"", "too_many_parts")
            return
        yield item
