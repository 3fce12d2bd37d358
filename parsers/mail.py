"""Mail in: raw RFC 5322 bytes -> a ``Mail`` value with the headers the service needs and the attachments to read.

``read_mail`` is the first step of the pipeline, run in a parse worker (``intake.isolation``): the ``email``
package takes quadratic time on some headers (a ``Content-Type`` with thousands of parameters takes minutes),
so the service gives it a worker's time limit and memory cap, and a ``Mail`` pickles to come back from there.
It never raises, whatever the bytes (but for ``MemoryError``, which the worker reports): Python's ``email``
package raises on real-world mail in several places (``get_content()`` on multipart parts, unknown charsets,
broken address headers), so every header read is guarded and parts are walked by hand and decoded with
``get_payload(decode=True)``. What went wrong is recorded in ``Mail.defects`` as class-like names, never as
text from the message.

Attachments kept are the ones a later parser may read: PDFs (found by their ``%PDF-`` magic bytes whatever
the part claims to be, or declared as PDF), Word ``.docx``/``.doc``, pictures (JPEG, PNG, TIFF, HEIC, by their
bytes: a photographed or scanned form, read by OCR; a logo or a signature's picture is told apart by the parse
worker, and left out as if never attached), and the containers that may hold them, Outlook ``.msg`` items and
TNEF ``winmail.dat`` files. Containers are kept closed: their libraries are
untrusted decoders, so ``parsers.containers.unpack`` opens them in the parse workers, never here. This module
only splits MIME, with the standard library, bounded by ``MAX_PARTS``, ``MAX_DEPTH`` and ``MAX_FORWARDS``.

A file past one of those limits is never dropped in silence: it comes back with no data and ``skipped`` set,
so the message goes to the team rather than being filed as holding no form.
"""

from __future__ import annotations

import datetime as dt
import email.feedparser
import email.parser
import email.policy
import email.utils
import hashlib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from types import MappingProxyType
from typing import Literal

from parsers import is_image, may_be_a_page

MAX_FORWARDS = 8
"""How many forwarded messages inside one another are read. Referrals forwarded as attachments arrive 4-6
deep; a file more deeply forwarded is not read but kept as ``skipped="too_deep"`` for the team."""

MAX_DEPTH = 32
"""How deep MIME parts nest in all, forwards included, before files stop being read (``too_deep``)."""

MAX_PARTS = 1000
"""How many MIME parts are looked at in one message; a MIME bomb stops here and the rest of the message is
reported once as ``skipped="too_many_parts"``."""

DEFAULT_MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024

MAX_FILENAME_BYTES = 150
"""Longest sanitised file name, in UTF-8 bytes (file systems stop at 255; screens need far less)."""

AUTOMATIC_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "x-loop",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "x-failed-recipients",
)
"""Header names copied into ``Mail.headers`` (plus ``content-type``, the top part's media type), their
encoded-words decoded: a machine that writes ``Auto-Submitted: =?utf-8?q?auto-replied?=`` is still a machine."""

AttachmentKind = Literal["pdf", "docx", "doc", "msg", "tnef", "image"]
"""What a kept attachment is: which later parser reads it."""

Skipped = Literal["too_large", "too_deep", "too_many_parts"]
"""Why a kept attachment's bytes were not kept: over the size limit, nested past the depth limits, or past
the number of parts (or files in a container) that are read."""

_FORWARD_TYPES = ("message/rfc822", "message/global")
"""Media types of a forwarded message (``message/global`` is RFC 6532's, with UTF-8 headers)."""

_PDF_MAGIC = b"%PDF-"
_TNEF_MAGIC = b"\x78\x9f\x3e\x22"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_KIND_BY_TYPE: Mapping[str, AttachmentKind] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/msword": "doc",
    "application/vnd.ms-outlook": "msg",
    "application/ms-tnef": "tnef",
    "application/vnd.ms-tnef": "tnef",
}
_KIND_BY_EXTENSION: Mapping[str, AttachmentKind] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".doc": "doc",
    ".msg": "msg",
}
_EXTENSION_BY_KIND: Mapping[AttachmentKind, str] = {
    "pdf": ".pdf",
    "docx": ".docx",
    "doc": ".doc",
    "msg": ".msg",
    "tnef": ".dat",
    "image": ".jpg",
}
_PICTURE_EXTENSIONS: Mapping[bytes, str] = {
    b"\xff\xd8\xff": ".jpg",
    b"\x89PNG": ".png",
    b"II*\x00": ".tif",
    b"MM\x00*": ".tif",
}
"""A nameless picture's extension, by its first bytes (HEIC, the rest, gets ``.heic``)."""


@dataclass(frozen=True)
class Attachment:
    """One attached file worth reading.

    ``filename`` is already sanitised (no folders, no control characters, bounded length). ``content_type``
    is what the part declared, lower-cased; it may be wrong (PDFs arrive as ``application/octet-stream``).
    A file that was not kept whole has ``skipped`` set and empty ``data``.
    """

    filename: str
    content_type: str
    data: bytes
    skipped: Skipped | None = None

    @property
    def too_large(self) -> bool:
        """Whether the file was over the size limit (its bytes dropped)."""
        return self.skipped == "too_large"

    @property
    def kind(self) -> AttachmentKind | None:
        """Which parser reads it: the magic bytes decide, then the file name, then the declared type.

        ``msg`` and ``tnef`` are containers, opened by ``parsers.containers.unpack`` in a parse worker.
        """
        return sniff_kind(self.data, self.filename, self.content_type)


@dataclass(frozen=True)
class Mail:
    """What the service reads from one email.

    ``subject`` is carried for the team's screens only: subjects often name the patient, so it is never
    logged or put in a reply. ``headers`` holds the lower-cased names in ``AUTOMATIC_HEADERS`` that were
    present, plus ``content-type`` (the top part's media type, e.g. ``multipart/report``). Addresses are
    lower-cased (a bare local part such as ``mailer-daemon`` is kept as it is); ``message_id`` and the ids
    in ``in_reply_to``/``references`` have no angle brackets.

    ``content_digest`` (SHA-256, hex) covers what the sender wrote — every part's media type and decoded
    content, in order, and the headers of any message forwarded inside — and none of the message's own
    headers, so a copy of the message that picked up another ``Received:`` line or a new transfer encoding on
    its way has the same digest. It is empty when the parts could not all be walked (a message that could not
    be parsed, or one past the part limit or too deeply nested for the email package).
    """

    message_id: str | None = None
    sender: str | None = None
    reply_to: str | None = None
    to: tuple[str, ...] = ()
    date: dt.datetime | None = None
    subject: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # Left out of the hash (a mapping has none) so a Mail can still go in a set or be a dict key.
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    content_digest: str = ""

    def __getstate__(self) -> dict[str, object]:
        # A read-only mapping view cannot be pickled, and a Mail comes back from the parse worker pickled:
        # the headers travel as a plain dict and are wrapped again on arrival (``__setstate__``).
        return {**self.__dict__, "headers": dict(self.headers)}

    def __setstate__(self, state: dict[str, object]) -> None:
        headers = state.get("headers")
        # Unpickling fills a fresh instance's __dict__ directly; the frozen dataclass forbids setattr.
        self.__dict__.update(state, headers=MappingProxyType(dict(headers) if isinstance(headers, Mapping) else {}))


def read_mail(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> Mail:
    """Read one raw message.

    Args:
        raw: the message exactly as the mailbox gave it (any line endings, any bytes).
        max_attachment_bytes: a kept part whose decoded size is over this comes back ``too_large`` with no data.

    Returns:
        A ``Mail``. Unparseable input gives a ``Mail`` with empty fields and a defect, never an exception.

    Raises:
        MemoryError: the message does not fit in the memory there is. Every guard here lets it through rather
            than record it as one header's or one part's defect: a message read in part for want of memory
            would lose its forms in silence. The parse worker that runs this (``intake.isolation``) reports
            the message as too large.
    """
    try:
        return _read(raw, max_attachment_bytes)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: one bad message must never stop the queue
        return Mail(defects=(f"ReadFailed:{type(exc).__name__}",))


def _read(raw: bytes, max_attachment_bytes: int) -> Mail:
    defects = _Defects()
    collector = _Collector(max_attachment_bytes, defects)
    message = _parse(raw, defects)
    if message is not None:
        try:
            collector.walk(message)
        except RecursionError:
            # The walk keeps its own stack, but the email package recurses on some structures: keep what was
            # found, and report the rest, which may hold a form.
            defects.add("RecursionLimit")
            collector.report_the_rest()
    elif "NestingTooDeep" in defects.collected():
        # The email package recurses, and gives up on a message nested hundreds deep: its headers alone are
        # still read (so there is someone to answer), and its body, which may hold a form, is reported.
        message = _parse(raw, defects, headers_only=True)
        collector.report_the_rest()
    if message is None:
        return Mail(defects=defects.collected())
    return _mail(message, defects, collector.attachments, collector.content_digest())


def read_headers(raw: bytes) -> Mail:
    """The headers of a message whose body did not fit in the memory there is, with one ``too_large`` file
    standing for the whole body (it may hold forms): the message goes to the team, and the sender, known from
    the headers, is told it will be checked by hand. Only the header block, up to the first empty line, is
    parsed.

    Raises:
        MemoryError: as ``read_mail``.
    """
    defects = _Defects()
    ends = [end + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (end := raw.find(blank)) >= 0]
    head = raw[: min(ends)] if ends else raw
    message = _parse(head, defects, headers_only=True)
    body = Attachment("message-body", "", b"", skipped="too_large")
    if message is None:
        return Mail(attachments=(body,), defects=defects.collected())
    # No content digest: the body was not read, so the message is known by its bytes (``intake.assess``).
    return _mail(message, defects, [body], content_digest="")


def _mail(message: Message, defects: _Defects, attachments: list[Attachment], content_digest: str) -> Mail:
    headers = _HeaderReader(message, defects)
    return Mail(
        message_id=headers.message_id("message-id"),
        sender=headers.first_address("from"),
        reply_to=headers.first_address("reply-to"),
        to=headers.addresses("to"),
        date=headers.date(),
        subject=headers.text("subject") or "",
        in_reply_to=headers.message_id("in-reply-to"),
        references=headers.message_ids("references"),
        headers=MappingProxyType(headers.automatic()),
        attachments=tuple(attachments),
        defects=defects.collected(),
        content_digest=content_digest,
    )


class _Defects:
    """Defect names in first-seen order, without repeats: class names only, so no message text leaks."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, name: str) -> None:
        self._seen.setdefault(name, None)

    def add_from(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()):
            self.add(type(defect).__name__)

    def collected(self) -> tuple[str, ...]:
        return tuple(self._seen)


def _parse(raw: bytes, defects: _Defects, *, headers_only: bool = False) -> Message | None:
    for policy in (email.policy.default, email.policy.compat32):
        try:
            if headers_only:
                return email.parser.BytesHeaderParser(policy=policy).parsebytes(raw)
            return _parse_in_chunks(raw, policy)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parser failure means "try the lenient policy", never a crash
            defects.add(f"ParseFailed:{'default' if policy is email.policy.default else 'compat32'}")
            if isinstance(exc, RecursionError):
                defects.add("NestingTooDeep")
    return None


_FEED_BYTES = 1024 * 1024


def _parse_in_chunks(raw: bytes, policy: email.policy.Policy) -> Message:
    """``BytesParser.parsebytes``, fed a slice at a time: it decodes the whole message into one string and
    copies that into a ``StringIO`` (four bytes a character), which made reading a message take ten times its
    size in memory, and the parse worker's memory cap would turn away a large scanned form."""
    parser = email.feedparser.BytesFeedParser(policy=policy)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(bytes(view[start : start + _FEED_BYTES]))
    return parser.close()


class _HeaderReader:
    """Guarded header reads: the default policy's parsed value where it works, the raw text where it raises."""

    def __init__(self, message: Message, defects: _Defects) -> None:
        self._message = message
        self._defects = defects

    def _raw(self, name: str) -> list[str]:
        try:
            return [str(v) for k, v in self._message.raw_items() if k.lower() == name]
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a header we cannot even list is treated as absent
            self._defects.add(f"HeaderUnreadable:{name}")
            return []

    def text(self, name: str) -> str | None:
        """The first header of that name as decoded text, or None when absent."""
        raws = self._raw(name)
        if not raws:
            return None
        try:
            value = self._message.get(name)
            if value is not None:
                return _clean_text(str(value))
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - the default policy raises on some real headers
            self._defects.add(f"HeaderUnreadable:{name}")
        return _clean_text(_decode_words(raws[0]))

    def addresses(self, name: str) -> tuple[str, ...]:
        found: list[str] = []
        for raw in self._raw(name):
            try:
                # Encoded-words are left alone: decoded display names can hold commas that split the list.
                pairs = email.utils.getaddresses([_unescape_surrogates(_unfold(raw))])
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001 - a malformed address list gives no addresses, not a crash
                self._defects.add(f"HeaderUnreadable:{name}")
                continue
            for _display, address in pairs:
                cleaned = _clean_address(address)
                if cleaned and cleaned not in found:
                    found.append(cleaned)
        return tuple(found)

    def first_address(self, name: str) -> str | None:
        found = self.addresses(name)
        return found[0] if found else None

    def message_ids(self, name: str) -> tuple[str, ...]:
        ids: list[str] = []
        for raw in self._raw(name):
            for token in _unfold(raw).replace(">", "> ").split():
                token = token.strip().strip("<>").strip()
                # A bare token without "@" is usually a comment or a phrase in a broken References header.
                if "@" in token and token not in ids:
                    ids.append(token[:998])
        return tuple(ids)

    def message_id(self, name: str) -> str | None:
        ids = self.message_ids(name)
        if ids:
            return ids[0]
        raws = self._raw(name)
        bare = _unfold(raws[0]).strip().strip("<>").strip() if raws else ""
        return bare[:998] or None

    def date(self) -> dt.datetime | None:
        raws = self._raw("date")
        if not raws:
            return None
        try:
            parsed = email.utils.parsedate_to_datetime(_unfold(raws[0]).strip())
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - unparseable dates are common in spam and old clients
            self._defects.add("InvalidDate")
            return None
        # RFC 5322 "-0000" means "UTC, local zone unknown": Python gives a naive datetime for it.
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)

    def automatic(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in AUTOMATIC_HEADERS:
            raws = self._raw(name)
            if raws:
                values[name] = ", ".join(_clean_text(_decode_words(_unfold(r))) for r in raws)
        values["content-type"] = _content_type(self._message)
        return values


class _Collector:
    """Walks the part tree by hand (not ``iter_attachments``), keeps the attachments worth reading and digests
    every part's content on the way (``Mail.content_digest``).

    The walk keeps its own stack rather than recursing, so no nesting can exhaust Python's. Past ``MAX_DEPTH``
    or ``MAX_FORWARDS`` it goes on looking, bounded by ``MAX_PARTS``, only to find files that could be forms:
    those are kept ``too_deep``, without their bytes.
    """

    def __init__(self, max_bytes: int, defects: _Defects) -> None:
        self.attachments: list[Attachment] = []
        self._max_bytes = max_bytes
        self._defects = defects
        self._digest = hashlib.sha256()
        self._complete = True

    def walk(self, message: Message) -> None:
        # A part, its depth, the forwards around it, and whether it is a forwarded message itself.
        stack: list[tuple[Message, int, int, bool]] = [(message, 0, 0, False)]
        parts = 0
        while stack:
            part, depth, forwards, forwarded = stack.pop()
            parts += 1
            if parts > MAX_PARTS:
                self._defects.add("TooManyParts")
                # Whatever is left may hold a form: the team is told, once, rather than nothing.
                self.attachments.append(Attachment(f"parts-after-{MAX_PARTS}", "", b"", skipped="too_many_parts"))
                self._complete = False
                return
            self._defects.add_from(part)
            if forwarded:
                self._digest_headers(part)
            too_deep = depth > MAX_DEPTH or forwards > MAX_FORWARDS
            if too_deep:
                self._defects.add("NestingTooDeep")
            if _is_container(part):
                self._digest_part(part, b"", container=True)
                # A message/* part holds a forwarded message: everything inside is one forward deeper.
                inner = forwards + 1 if _content_type(part).startswith("message/") else forwards
                children = list(self._children(part))
                stack.extend((child, depth + 1, inner, inner > forwards) for child in reversed(children))
            else:
                data = _decoded(part)
                self._digest_part(part, data)
                self._keep_if_wanted(part, data, too_deep=too_deep)

    def report_the_rest(self) -> None:
        """Keep one ``too_deep`` entry for parts that could not be walked at all, whatever they hold."""
        self.attachments.append(Attachment("nested-parts", "", b"", skipped="too_deep"))
        self._complete = False

    def content_digest(self) -> str:
        """The digest of every part seen, or "" when some were not: two messages that differ only in parts
        that were never walked must not look the same."""
        return self._digest.hexdigest() if self._complete else ""

    def _digest_part(self, part: Message, data: bytes | None, *, container: bool = False) -> None:
        content_type = _content_type(part)
        if data is not None and content_type.startswith("text/"):
            # Line endings change on the way (IMAP gives CRLF, a Maildir file LF); the text does not.
            data = data.replace(b"\r\n", b"\n")
        kind = b"container" if container else b"undecodable" if data is None else b"leaf"
        self._digest_items(kind, content_type.encode("ascii", "replace"), data or b"")

    def _digest_headers(self, message: Message) -> None:
        """A forwarded message's headers are part of what the sender wrote (only the outer message's are not)."""
        try:
            lines = [f"{name.lower()}: {' '.join(_unfold(str(value)).split())}" for name, value in message.raw_items()]
        except Exception:  # noqa: BLE001 - headers that cannot even be listed count as one unreadable item
            lines = ["\x00unreadable"]
        self._digest_items(b"headers", "\n".join(lines).encode("utf-8", "surrogatepass"))

    def _digest_items(self, *items: bytes) -> None:
        for item in items:
            # Length-prefixed, so that no two different sequences of parts run together into the same bytes.
            self._digest.update(len(item).to_bytes(8, "big"))
            self._digest.update(item)

    def _children(self, part: Message) -> Iterator[Message]:
        try:
            payload = part.get_payload()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - treat an unreadable payload as a leaf with nothing inside
            self._defects.add("PayloadUnreadable")
            return
        encoded = _encoded_forward(part, payload)
        if encoded is not None:
            # A forward sent base64-encoded (RFC 2046 forbids it; some clients do it): the email package
            # parsed the encoded text as if it were the message. Decode it, and parse what it really is.
            nested = _parse(encoded, self._defects)
            if nested is not None:
                yield nested
            else:
                self.report_the_rest()
        elif isinstance(payload, list):
            yield from (p for p in payload if isinstance(p, Message))

    def _keep_if_wanted(self, part: Message, data: bytes | None, *, too_deep: bool) -> None:
        if data is None:
            self._defects.add("PayloadUndecodable")
            return
        content_type = _content_type(part)
        name = _filename(part, self._defects)
        kind = sniff_kind(data, name or "", content_type)
        # An OLE file with no usable name or type could be a .doc or a .msg: leave it to the team.
        if kind is None:
            return
        filename = kept_name(name, kind, f"attachment-{len(self.attachments) + 1}", data)
        if too_deep and kind == "image" and not may_be_a_page(data):
            # A signature's picture deep in a forwarded thread is no form: as at the top, it is left out.
            return
        if too_deep:
            self.attachments.append(Attachment(filename, content_type, b"", skipped="too_deep"))
        elif len(data) > self._max_bytes:
            self.attachments.append(Attachment(filename, content_type, b"", skipped="too_large"))
        else:
            self.attachments.append(Attachment(filename, content_type, data))


def kept_name(name: str | None, kind: AttachmentKind, stem: str, data: bytes = b"") -> str:
    """The sanitised name a kept file of ``kind`` goes by: ``stem`` plus the kind's extension when it has
    none usable (a picture's told by its bytes, ``data``), and a PDF's name always ends ``.pdf`` (so its kind
    survives losing its bytes)."""
    extension = _EXTENSION_BY_KIND[kind]
    if kind == "image":
        extension = next((e for magic, e in _PICTURE_EXTENSIONS.items() if data.startswith(magic)), ".heic")
    fallback = f"{stem}{extension}"
    filename = sanitise_filename(name, fallback=fallback)
    if kind == "pdf" and not filename.lower().endswith(".pdf"):
        filename = sanitise_filename(filename + ".pdf", fallback=fallback)
    return filename


def sanitise_filename(name: str | None, *, fallback: str) -> str:
    """A file name safe to show and to save: the last path component only, no control or format characters,
    no characters Windows forbids, no leading dots, at most ``MAX_FILENAME_BYTES`` with the extension kept.

    Returns ``fallback`` when nothing usable is left (``"../"``, ``""``, ``None``).
    """
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Category C covers control characters and the bidi overrides that disguise "gpj.exe" as "exe.jpg".
    name = "".join("_" if ch in '<>:"|?*' else ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(name.split()).strip(". ")
    if not name:
        return fallback
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 10:
        stem, dot, extension = name, "", ""
    while len(f"{stem}{dot}{extension}".encode()) > MAX_FILENAME_BYTES and stem:
        stem = stem[:-1]
    name = f"{stem.rstrip(' .')}{dot}{extension}"
    return name if stem.strip(" .") else fallback


def sniff_kind(data: bytes, filename: str, content_type: str) -> AttachmentKind | None:
    """Which parser reads a file: its magic bytes decide, then its name, then its declared type; None when
    no parser would read it (text, a spreadsheet). A picture is ``image`` by its bytes: a ``.jpg`` that is not
    one holds nothing to read."""
    # Containers first: a small one holding a PDF has "%PDF-" within its first kilobyte too.
    if data.startswith(_TNEF_MAGIC):
        return "tnef"
    declared = _declared_kind(filename, content_type)
    if declared == "msg" and data.startswith(_OLE_MAGIC):
        return "msg"
    if data[:1024].find(_PDF_MAGIC) >= 0:
        return "pdf"
    if is_image(data) and declared is None:
        # A picture named as a form or a container ("Form 2.pdf", winmail.dat) keeps the kind its name says: it
        # is still parsed by its bytes (OCR), and counts as that file even when it holds no form.
        return "image"
    return declared


def _declared_kind(filename: str, content_type: str) -> AttachmentKind | None:
    lowered = filename.lower()
    if lowered == "winmail.dat" or lowered.endswith("/winmail.dat"):
        return "tnef"
    for extension, kind in _KIND_BY_EXTENSION.items():
        if lowered.endswith(extension):
            return kind
    return _KIND_BY_TYPE.get(content_type)


def _encoded_forward(part: Message, payload: object) -> bytes | None:
    """The forwarded message in ``part`` as bytes to parse, where the email package did not parse it as one:
    sent base64-encoded (it then reads the encoded text as the message), or left as text; None otherwise."""
    if _content_type(part) not in _FORWARD_TYPES:
        return None
    if isinstance(payload, str):
        return _decoded(part) or None
    if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
        return None
    if not (isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], Message)):
        return None
    encoded = payload[0].get_payload()  # the encoded text, read as the body of a message without headers
    if not isinstance(encoded, str):
        return None
    shadow = Message()
    shadow["Content-Transfer-Encoding"] = "base64"
    shadow.set_payload(encoded)
    return _decoded(shadow) or None


def _is_container(part: Message) -> bool:
    try:
        return part.is_multipart() or _content_type(part) in _FORWARD_TYPES
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - an unreadable structure is read as a leaf
        return False


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - RFC 2045 says a broken Content-Type is read as text/plain
        return "text/plain"


def _decoded(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - broken transfer encodings raise in a few corners of the email package
        return None
    return data if isinstance(data, bytes) else None


def _filename(part: Message, defects: _Defects) -> str | None:
    """The part's file name: Content-Disposition filename, else Content-Type name; RFC 2231 and 2047 decoded."""
    name: object = None
    try:
        name = part.get_filename()
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - fall back to the raw parameter below
        defects.add("FilenameUnreadable")
    if not name:
        # The default policy drops parameters it cannot tokenise (an unquoted encoded-word, say);
        # compat32's looser parameter reader, over the same raw headers, often still finds the name.
        try:
            shadow = Message()
            for key, value in part.raw_items():
                if key.lower() in ("content-type", "content-disposition"):
                    shadow[key] = str(value)
            name = shadow.get_filename()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - no readable name at all: the caller uses a fallback
            return None
    if isinstance(name, tuple):
        # RFC 2231 value with a charset the email package handed back undecoded.
        charset, _language, text = name
        name = _from_charset(text.encode("latin-1", "surrogateescape"), charset or "utf-8")
    if not isinstance(name, str) or not name:
        return None
    return _decode_words(_unescape_surrogates(name))


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words; the text as it stands when they are broken or name an unknown charset."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(_unfold(value))))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - LookupError/UnicodeError/HeaderParseError: keep the raw text
        return value


def _unescape_surrogates(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8, else Windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return _from_charset(raw, "utf-8")


def _from_charset(raw: bytes, charset: str) -> str:
    for candidate in (charset, "utf-8", "cp1252"):
        try:
            return raw.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


def _unfold(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def _clean_text(value: str) -> str:
    """One line of printable text: folded whitespace collapsed, control characters and surrogates dropped."""
    value = _unescape_surrogates(value)
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def _clean_address(address: str) -> str | None:
    # A bare local part is kept: "From: MAILER-DAEMON" (no domain) is how some bounces announce themselves.
    address = _clean_text(address).strip("<> ").lower()
    if not address or " " in address or address.startswith("@") or address.endswith("@"):
        return None
    return address
