"""Forms inside Outlook containers: winmail.dat (TNEF) and .msg items attached to an email.

``read_mail`` keeps containers closed; ``unpack`` opens them, in a parse worker in the service (see
tests/integration/test_hostile.py for the worker's side). Here both are called directly, as plain functions.

TNEF files are built here with a minimal writer (signature, key, then attributes). Outlook .msg files cannot be
written without Outlook, so the real one in the shared corpora is read in tests/integration/test_corpus_containers.py.
"""

from __future__ import annotations

import datetime as dt
import struct
from email.message import EmailMessage

import pytest
from tnefparse.mapi import IMESSAGE_SIG

from parsers.containers import (
    MAX_CONTAINER_DEPTH,
    MAX_DEPTH,
    MAX_FILES,
    MAX_TNEF_OBJECTS,
    ContainerError,
    msg_files,
    tnef_files,
    unpack,
)
from parsers.mail import Attachment, read_mail

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
DOCX = b"PK\x03\x04" + b"\x00" * 40

ATT_ATTACH_RENDDATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
ATT_TNEF_VERSION = 0x00089006
ATT_ATTACHMENT = 0x00069005
ATT_MAPI_PROPS = 0x00069003


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


def embedded_message(inner: bytes) -> bytes:
    """A TNEF stream holding ``inner`` (itself TNEF) as a message attached as an item, as Outlook embeds one."""
    value = IMESSAGE_SIG + inner
    props = struct.pack("<IHHII", 1, 0x000D, 0x3701, 1, len(value)) + value + b"\x00" * (-len(value) % 4)
    body = attribute(2, ATT_ATTACH_RENDDATA, b"\x01\x00" + b"\xff" * 12) + attribute(2, ATT_ATTACHMENT, props)
    return struct.pack("<IH", 0x223E9F78, 0x0001) + body


def endless_properties() -> bytes:
    """The 21-byte winmail.dat that made tnefparse loop four billion times (logging each time): one MAPI
    properties attribute that claims 0xFFFFFFFF properties and holds none."""
    data = struct.pack("<I", 0xFFFFFFFF)
    return struct.pack("<IH", 0x223E9F78, 0x0001) + attribute(1, ATT_MAPI_PROPS, data)


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


def opened(raw: bytes, *, max_bytes: int = 50 * 1024 * 1024) -> list[Attachment]:
    """The files worth reading in an email once its containers are opened, as the pipeline reads it."""
    return [found for attachment in read_mail(raw).attachments for found in unpack(attachment, max_bytes=max_bytes)]


def test_reading_an_email_keeps_its_winmail_dat_closed_for_a_parse_worker_to_open() -> None:
    data = winmail(("Form 2.pdf", PDF))

    mail = read_mail(email_with("winmail.dat", data))

    assert [(a.filename, a.kind, a.data) for a in mail.attachments] == [("winmail.dat", "tnef", data)]


def test_the_forms_in_a_winmail_dat_are_read_as_attachments_of_the_email() -> None:
    raw = email_with("winmail.dat", winmail(("Form 2.pdf", PDF), ("logo.png", b"\x89PNG\r\n"), ("MIAT.docx", DOCX)))

    assert [(a.filename, a.kind, a.data) for a in opened(raw)] == [
        ("Form 2.pdf", "pdf", PDF),
        ("MIAT.docx", "docx", DOCX),
    ]


def test_a_winmail_dat_named_otherwise_is_recognised_by_its_signature() -> None:
    raw = email_with("ATT00001.bin", winmail(("Form 1.pdf", PDF)), content_type="application/octet-stream")

    assert [a.filename for a in opened(raw)] == ["Form 1.pdf"]


def test_a_pdf_in_a_winmail_dat_without_a_pdf_name_is_found_by_its_magic_bytes() -> None:
    found = opened(email_with("winmail.dat", winmail(("scan0001", PDF))))

    assert [(a.filename, a.kind) for a in found] == [("scan0001.pdf", "pdf")]


def test_a_winmail_dat_holding_only_pictures_and_text_gives_no_attachments() -> None:
    assert opened(email_with("winmail.dat", winmail(("image001.png", b"\x89PNG\r\n\x1a\n")))) == []


def test_a_winmail_dat_inside_a_winmail_dat_is_opened_too() -> None:
    inner = winmail(("Form 2.pdf", PDF))

    assert [a.filename for a in opened(email_with("winmail.dat", winmail(("winmail.dat", inner))))] == ["Form 2.pdf"]


def test_containers_nested_past_the_limit_are_left_unopened_for_the_team() -> None:
    nested = winmail(("Form 2.pdf", PDF))
    for _ in range(MAX_CONTAINER_DEPTH + 6):
        nested = winmail(("winmail.dat", nested))

    found = opened(email_with("winmail.dat", nested))

    assert [(a.filename, a.skipped, a.data) for a in found] == [("winmail.dat", "too_deep", b"")]


def test_a_form_in_a_message_attached_as_an_item_is_read() -> None:
    found = opened(email_with("winmail.dat", embedded_message(winmail(("Form 2.pdf", PDF)))))

    assert [(a.filename, a.data) for a in found] == [("Form 2.pdf", PDF)]


def test_messages_attached_as_items_past_the_limit_are_reported_rather_than_dropped() -> None:
    nested = winmail(("Form 2.pdf", PDF))
    for _ in range(MAX_DEPTH + 2):
        nested = embedded_message(nested)

    found = opened(email_with("winmail.dat", nested))

    assert [(a.skipped, a.data) for a in found] == [("too_deep", b"")]


def test_files_past_the_most_taken_from_one_container_are_reported_once() -> None:
    pictures = [(f"image{number:03d}.png", b"\x89PNG\r\n\x1a\n") for number in range(MAX_FILES)]

    found = opened(email_with("winmail.dat", winmail(*pictures, ("Form 2.pdf", PDF))))

    assert [(a.filename, a.skipped) for a in found] == [(f"files-after-{MAX_FILES}", "too_many_parts")]


def test_a_broken_winmail_dat_stays_an_attachment_that_could_not_be_opened() -> None:
    broken = winmail(("Form 2.pdf", PDF))[:-20]

    found = opened(email_with("winmail.dat", broken))

    assert [(a.filename, a.kind, a.skipped) for a in found] == [("winmail.dat", "tnef", None)]


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

    assert [(a.filename, a.kind) for a in opened(raw)] == [("Referral for Mrs Example.msg", "msg")]
    assert read_mail(raw).date == dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
