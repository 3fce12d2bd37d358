"""Forms inside Outlook containers: winmail.dat (TNEF) and .msg items attached to an email.

TNEF files are built here with a minimal writer (signature, key, then attributes). Outlook .msg files cannot be
written without Outlook, so the real one in the shared corpora is read in tests/integration/test_corpus_containers.py.
"""

from __future__ import annotations

import datetime as dt
import struct
from email.message import EmailMessage

import pytest

from parsers.containers import MAX_TNEF_OBJECTS, ContainerError, msg_files, tnef_files
from parsers.mail import Attachment, read_mail, unpack

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DOCX = b"PK\x03\x04" + b"\x00" * 40

ATT_ATTACH_RENDDATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_TNEF_VERSION = 0x00089006


def attribute(level: int, attribute_id: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute_id, len(data)) + data + struct.pack("<H", checksum)


def winmail(*files: tuple[str, bytes]) -> bytes:
    """A TNEF stream as Outlook writes one: a version attribute, then per file its rendering, title and data."""
    out = struct.pack("<IH", 0x223E9F78, 0x0001) + attribute(1, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    for name, data in files:
        out += attribute(2, ATT_ATTACH_RENDDATA, b"\x01\x00" + b"\xff" * 12)
        out += attribute(2, ATT_ATTACH_TITLE, name.encode() + b"\x00")
        out += attribute(2, ATT_ATTACH_DATA, data)
    return out


def email_with(filename: str, data: bytes, content_type: str = "application/ms-tnef") -> bytes:
    message = EmailMessage()
    message["From"] = "pharmacy@nhs.net"
    message["To"] = "agem.norfolkmedicineservices@nhs.net"
    message["Subject"] = "Referral"
    message["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
    message["Message-ID"] = "<containers@nhs.net>"
    message.set_content("Please see attached.")
    maintype, subtype = content_type.split("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def test_the_forms_in_a_winmail_dat_are_read_as_attachments_of_the_email() -> None:
    raw = email_with("winmail.dat", winmail(("Form 2.pdf", PDF), ("logo.png", b"\x89PNG\r\n"), ("MIAT.docx", DOCX)))

    mail = read_mail(raw)

    assert [(a.filename, a.kind, a.data) for a in mail.attachments] == [
        ("Form 2.pdf", "pdf", PDF),
        ("MIAT.docx", "docx", DOCX),
    ]


def test_a_winmail_dat_named_otherwise_is_recognised_by_its_signature() -> None:
    raw = email_with("ATT00001.bin", winmail(("Form 1.pdf", PDF)), content_type="application/octet-stream")

    assert [a.filename for a in read_mail(raw).attachments] == ["Form 1.pdf"]


def test_a_pdf_in_a_winmail_dat_without_a_pdf_name_is_found_by_its_magic_bytes() -> None:
    mail = read_mail(email_with("winmail.dat", winmail(("scan0001", PDF))))

    assert [(a.filename, a.kind) for a in mail.attachments] == [("scan0001.pdf", "pdf")]


def test_a_winmail_dat_holding_only_pictures_and_text_gives_no_attachments() -> None:
    mail = read_mail(email_with("winmail.dat", winmail(("image001.png", b"\x89PNG\r\n\x1a\n"))))

    assert mail.attachments == ()


def test_a_winmail_dat_inside_a_winmail_dat_is_opened_too() -> None:
    inner = winmail(("Form 2.pdf", PDF))
    mail = read_mail(email_with("winmail.dat", winmail(("winmail.dat", inner))))

    assert [a.filename for a in mail.attachments] == ["Form 2.pdf"]


def test_containers_nested_past_the_limit_are_left_unopened_for_the_team() -> None:
    nested = winmail(("Form 2.pdf", PDF))
    for _ in range(10):
        nested = winmail(("winmail.dat", nested))

    mail = read_mail(email_with("winmail.dat", nested))

    assert [a.kind for a in mail.attachments] == ["tnef"]


def test_a_broken_winmail_dat_stays_an_attachment_that_could_not_be_opened() -> None:
    broken = winmail(("Form 2.pdf", PDF))[:-20]

    mail = read_mail(email_with("winmail.dat", broken))

    assert [(a.filename, a.kind) for a in mail.attachments] == [("winmail.dat", "tnef")]


def test_a_file_in_a_container_over_the_size_limit_is_flagged_too_large_without_its_bytes() -> None:
    big = PDF + b" " * 5000
    found = unpack(Attachment("winmail.dat", "application/ms-tnef", winmail(("Form 2.pdf", big))), max_bytes=1000)

    assert [(a.filename, a.too_large, a.data) for a in found] == [("Form 2.pdf", True, b"")]


def test_a_winmail_dat_of_countless_tiny_attributes_is_refused_rather_than_read_slowly() -> None:
    data = struct.pack("<IH", 0x223E9F78, 1) + attribute(1, ATT_TNEF_VERSION, b"") * (MAX_TNEF_OBJECTS + 1)

    with pytest.raises(ContainerError):
        tnef_files(data)


@pytest.mark.parametrize("data", [b"", b"x" * 600, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600])
def test_bytes_that_are_not_an_outlook_item_are_refused_with_no_content_in_the_error(data: bytes) -> None:
    with pytest.raises(ContainerError) as raised:
        msg_files(data)

    assert "x" * 10 not in str(raised.value)


def test_an_unopenable_msg_attachment_is_kept_for_the_team_rather_than_dropped() -> None:
    raw = email_with("Referral for Mrs Example.msg", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "application/vnd.ms-outlook")

    mail = read_mail(raw)

    assert [(a.filename, a.kind) for a in mail.attachments] == [("Referral for Mrs Example.msg", "msg")]
    assert mail.date == dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
