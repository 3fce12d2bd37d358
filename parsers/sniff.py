"""What kind of file some bytes are, by their content: for telling a person they gave the wrong file.

The parsers decide for themselves what they can read; this only names the common mistakes (a PDF given
where an email was wanted, a text file given where a form was) in a few words.
"""

from __future__ import annotations

import re
from typing import Final, Literal

FileKind = Literal["empty", "pdf", "zip", "ole", "email", "other"]

_HEADER_WINDOW: Final = 64 * 1024
_FIELD_LINE: Final = re.compile(rb"^([!-9;-~]+)[ \t]*:")
"""An RFC 5322 header field: a name of printable characters but the colon, then a colon."""

_MAIL_FIELDS: Final = frozenset(
    {b"from", b"to", b"subject", b"date", b"message-id", b"received", b"return-path", b"mime-version"}
)

DESCRIPTIONS: Final[dict[FileKind, str]] = {
    "empty": "an empty file",
    "pdf": "a PDF",
    "zip": "a Word (.docx) or other ZIP file",
    "ole": "an Outlook item (.msg) or an old Word (.doc) file",
    "email": "an email",
    "other": "neither an email, a PDF nor a Word (.docx) file",
}


def file_kind(data: bytes) -> FileKind:
    """``email`` when the bytes start with header fields (after an mbox ``From `` line) that an email has."""
    if not data.strip():
        return "empty"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    return "email" if _starts_with_headers(data[:_HEADER_WINDOW]) else "other"


def _starts_with_headers(head: bytes) -> bool:
    """The first line is a header field, and the header block names a field every email has one of.

    Lines in the block that are not fields are let pass: real mail has broken headers, and ``check`` must
    still take it.
    """
    # Saved mail in the wild starts with a byte-order mark or blank padding often enough to allow both.
    lines = head.removeprefix(b"\xef\xbb\xbf").lstrip().splitlines()
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    if not lines or _FIELD_LINE.match(lines[0]) is None:
        return False
    names: set[bytes] = set()
    for line in lines:
        if not line.strip():
            break
        match = _FIELD_LINE.match(line)
        if match is not None:
            names.add(match[1].lower())
    return bool(names & _MAIL_FIELDS)
