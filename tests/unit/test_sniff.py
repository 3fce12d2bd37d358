"""Naming the wrong file a person gave: an email is told from a form, a Word file or plain text by content."""

from __future__ import annotations

import pytest

from parsers.sniff import file_kind

MAIL = b"From: pharmacy@nhs.net\r\nTo: nmss@nhs.net\r\nSubject: Referral\r\n\r\nPlease see attached.\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        MAIL,
        b"From pharmacy@nhs.net Mon Mar  2 09:00:00 2026\n" + MAIL,  # an mbox envelope line
        b"\xef\xbb\xbf" + MAIL,  # a byte-order mark from a Windows editor
        b"\r\n   \r\n" + MAIL,  # blank padding before the headers, as some exporters write
        b"Received: from mx\r\n\tby relay\r\nX-Odd header line\r\nSubject: x\r\n\r\n",  # a broken line among fields
    ],
    ids=["plain", "mbox", "bom", "padding", "broken-line"],
)
def test_saved_mail_is_an_email_however_it_starts(raw: bytes) -> None:
    assert file_kind(raw) == "email"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"", "empty"),
        (b"  \r\n", "empty"),
        (b"%PDF-1.7\n1 0 obj", "pdf"),
        (b"junk banner\r\n%PDF-1.4\n", "pdf"),
        (b"PK\x03\x04rest", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "ole"),
        (b"# NMSS Intake\n\nNMSS Intake takes over", "other"),
        (b"Note: this is not a message\n", "other"),  # a colon, but no field an email has
    ],
)
def test_what_is_not_an_email_is_named_by_its_content(raw: bytes, kind: str) -> None:
    assert file_kind(raw) == kind
