"""read_mail: the headers the service needs and the attachments worth reading, from any bytes at all."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import pickle
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from parsers.mail import MAX_DEPTH, MAX_FORWARDS, MAX_PARTS, Attachment, read_headers, read_mail, sanitise_filename

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _mail(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Pharmacy Team <Pharmacy.Team@NHS.net>")
    message["To"] = headers.pop("To", "agem.norfolkmedicineservices@nhs.net")
    message["Subject"] = headers.pop("Subject", "Referral")
    message["Message-ID"] = headers.pop("Message_ID", "<abc.123@mail.example.nhs.net>")
    message["Date"] = headers.pop("Date", "Tue, 04 Mar 2025 10:15:00 +0000")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Please find the referral attached.")
    return message


def _forwarded(data: bytes, *, times: int, filename: str = "deep.pdf") -> EmailMessage:
    """A message holding ``data`` as ``filename``, forwarded as an attachment ``times`` times over."""
    message = _mail()
    message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    for _ in range(times):
        outer = _mail()
        outer.add_attachment(message)
        message = outer
    return message


def _picture(width: int, height: int, format: str) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format=format)
    return out.getvalue()


def _raw_part(headers: str, body: bytes) -> bytes:
    """A two-part message whose second part has exactly the given headers: for names Python would re-encode."""
    return (
        b"From: someone@example.org\r\nTo: nmss@nhs.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b1\r\n"
        + headers.encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(body)
        + b"\r\n--b1--\r\n"
    )


class TestHeaders:
    def test_sender_reply_to_and_recipients_come_back_as_lower_case_addresses(self) -> None:
        """Addresses lose their display names and case, so they compare with configured addresses."""
        mail = read_mail(_mail(Reply_To="Desk <Desk@Example.NHS.net>", Cc="x@y.org").as_bytes())
        assert mail.sender == "pharmacy.team@nhs.net"
        assert mail.reply_to == "desk@example.nhs.net"
        assert mail.to == ("agem.norfolkmedicineservices@nhs.net",)

    def test_message_ids_lose_their_angle_brackets(self) -> None:
        """Message-ID, In-Reply-To and References come back as bare ids, ready to compare and re-quote."""
        mail = read_mail(_mail(In_Reply_To="<r2@x.org>", References="<r1@x.org> <r2@x.org>").as_bytes())
        assert mail.message_id == "abc.123@mail.example.nhs.net"
        assert mail.in_reply_to == "r2@x.org"
        assert mail.references == ("r1@x.org", "r2@x.org")

    def test_the_date_is_timezone_aware_even_when_the_zone_is_unknown(self) -> None:
        """RFC 5322's "-0000" (zone unknown) reads as UTC rather than as a naive datetime."""
        mail = read_mail(_mail(Date="Tue, 04 Mar 2025 10:15:00 -0000").as_bytes())
        assert mail.date == dt.datetime(2025, 3, 4, 10, 15, tzinfo=dt.UTC)

    def test_an_unreadable_date_is_none_and_a_defect(self) -> None:
        """A date nobody can read does not stop the message."""
        mail = read_mail(_mail(Date="the day after tomorrow").as_bytes())
        assert mail.date is None
        assert "InvalidDate" in mail.defects

    def test_headers_for_automatic_detection_are_kept_under_lower_case_names(self) -> None:
        """Only the headers the automatic-mail rules read are kept, plus the top part's media type."""
        raw = _mail(Auto_Submitted="auto-replied", X_Loop="someone", X_Mailer="Outlook").as_bytes()
        headers = read_mail(raw).headers
        assert headers["auto-submitted"] == "auto-replied"
        assert headers["x-loop"] == "someone"
        assert headers["content-type"] == "text/plain"
        assert "x-mailer" not in headers

    def test_the_subject_is_decoded_for_the_team(self) -> None:
        """Encoded-word subjects read as text (the team sees them; replies never do)."""
        mail = read_mail(_mail(Subject="Référence — Mrs Test").as_bytes())
        assert mail.subject == "Référence — Mrs Test"

    def test_a_message_without_from_has_no_sender(self) -> None:
        """No From header: sender is None rather than an error."""
        mail = read_mail(b"Subject: hello\r\n\r\nbody\r\n")
        assert mail.sender is None
        assert mail.attachments == ()


class TestPdfAttachments:
    def test_a_pdf_attachment_is_kept_with_its_name_and_bytes(self) -> None:
        """The everyday case: Content-Disposition attachment, application/pdf."""
        message = _mail()
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")
        (attachment,) = read_mail(message.as_bytes()).attachments
        assert attachment == Attachment("Form 2.pdf", "application/pdf", PDF)
        assert attachment.kind == "pdf"

    def test_an_inline_pdf_is_kept(self) -> None:
        """Some clients mark attached PDFs inline."""
        message = _mail()
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="f.pdf", disposition="inline")
        assert [a.filename for a in read_mail(message.as_bytes()).attachments] == ["f.pdf"]

    def test_a_pdf_sent_as_octet_stream_with_no_disposition_or_name_is_found_by_its_magic_bytes(self) -> None:
        """Scanners and old gateways send PDFs as application/octet-stream with no name at all."""
        raw = _raw_part("Content-Type: application/octet-stream", PDF)
        (attachment,) = read_mail(raw).attachments
        assert attachment.filename == "attachment-1.pdf"
        assert attachment.content_type == "application/octet-stream"
        assert attachment.data == PDF
        assert attachment.kind == "pdf"

    def test_a_pdf_inside_a_forwarded_message_is_kept(self) -> None:
        """A referral forwarded as an attachment (message/rfc822) still yields its form."""
        inner = _mail()
        inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 1.pdf")
        outer = _mail()
        outer.add_attachment(inner)
        assert [a.filename for a in read_mail(outer.as_bytes()).attachments] == ["Form 1.pdf"]

    def test_a_pdf_two_forwards_deep_is_kept(self) -> None:
        """Forwards of forwards are followed too."""
        inner = _mail()
        inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="MIAT.pdf")
        middle = _mail()
        middle.add_attachment(inner)
        outer = _mail()
        outer.add_attachment(middle)
        assert [a.filename for a in read_mail(outer.as_bytes()).attachments] == ["MIAT.pdf"]

    def test_a_pdf_in_a_forward_sent_base64_encoded_is_kept(self) -> None:
        """Some clients base64-encode a forwarded message (RFC 2046 says not to); its form is still read."""
        inner = _mail()
        inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")
        raw = (
            b'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(inner.as_bytes())
            + b"\r\n--o--\r\n"
        )
        assert [(a.filename, a.data) for a in read_mail(raw).attachments] == [("Form 2.pdf", PDF)]

    def test_a_pdf_forwarded_as_deep_as_the_limit_is_kept(self) -> None:
        """Referrals are forwarded as attachments several times over (pharmacy, surgery, hub): all are read."""
        (attachment,) = read_mail(_forwarded(PDF, times=MAX_FORWARDS).as_bytes()).attachments
        assert (attachment.filename, attachment.data, attachment.skipped) == ("deep.pdf", PDF, None)

    def test_a_pdf_forwarded_past_the_limit_is_reported_too_deep_not_dropped(self) -> None:
        """One forward more and the file is not read, but it is still there for the team to check."""
        mail = read_mail(_forwarded(PDF, times=MAX_FORWARDS + 1).as_bytes())
        assert [(a.filename, a.kind, a.data, a.skipped) for a in mail.attachments] == [
            ("deep.pdf", "pdf", b"", "too_deep")
        ]
        assert "NestingTooDeep" in mail.defects

    def test_forwards_nested_far_past_the_limit_are_walked_without_crashing(self) -> None:
        """Two hundred forwards deep, the walk neither recurses out of stack nor loses the file."""
        raw = b'Content-Type: application/pdf; name="deep.pdf"\r\n\r\n' + PDF
        for level in range(200):  # by hand: the email package cannot write a message this deep
            raw = (
                b'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="f%d"\r\n\r\n' % level
                + b"--f%d\r\nContent-Type: message/rfc822\r\n\r\n%b\r\n--f%d--\r\n" % (level, raw, level)
            )
        assert [(a.filename, a.skipped) for a in read_mail(raw).attachments] == [("deep.pdf", "too_deep")]

    def test_a_message_nested_too_deep_for_the_email_package_keeps_its_headers_and_is_reported(self) -> None:
        """The email package recurses and gives up hundreds of levels down: the sender is still known, and
        the body is reported for the team rather than taken for a message with nothing attached."""
        raw = b'Content-Type: application/pdf; name="deep.pdf"\r\n\r\n' + PDF
        for level in range(2000):
            raw = (
                b'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="f%d"\r\n\r\n' % level
                + b"--f%d\r\nContent-Type: message/rfc822\r\n\r\n%b\r\n--f%d--\r\n" % (level, raw, level)
            )
        mail = read_mail(raw)
        assert mail.sender == "a@b.c"
        assert [(a.filename, a.skipped) for a in mail.attachments] == [("nested-parts", "too_deep")]

    def test_pictures_forwarded_past_the_limit_send_nothing_to_the_team(self) -> None:
        """Only a file that could be a form counts: deep pictures are left out as they would be at the top."""
        message = _forwarded(b"\x89PNG\r\n\x1a\n", times=MAX_FORWARDS + 3, filename="logo.png")
        assert read_mail(message.as_bytes()).attachments == ()

    def test_multiparts_nested_past_the_depth_limit_are_reported_too_deep(self) -> None:
        """A MIME bomb of multiparts inside multiparts stops being read at MAX_DEPTH, and says what it hid."""
        body = b"--b0\r\nContent-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--b0--\r\n"
        for level in range(1, MAX_DEPTH + 3):
            body = (
                b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (level, level - 1)
                + body
                + b"\r\n--b%d--\r\n" % level
            )
        raw = b'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (MAX_DEPTH + 2) + body
        assert [(a.kind, a.skipped) for a in read_mail(raw).attachments] == [("pdf", "too_deep")]

    def test_a_message_of_more_parts_than_are_read_is_reported_once(self) -> None:
        """Past MAX_PARTS the rest of the message is not read; the team is told once, whatever it holds."""
        message = _mail()
        for number in range(MAX_PARTS):
            message.add_attachment(b"notes", maintype="text", subtype="plain", filename=f"{number}.txt")
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")
        mail = read_mail(message.as_bytes())
        assert [(a.filename, a.skipped) for a in mail.attachments] == [(f"parts-after-{MAX_PARTS}", "too_many_parts")]
        assert "TooManyParts" in mail.defects

    def test_a_part_named_pdf_whose_bytes_are_not_a_pdf_is_still_kept(self) -> None:
        """A broken PDF is kept so the sender can be told it could not be read, not silently ignored."""
        message = _mail()
        message.add_attachment(b"not really", maintype="application", subtype="pdf", filename="scan.pdf")
        (attachment,) = read_mail(message.as_bytes()).attachments
        assert attachment.kind == "pdf"
        assert attachment.data == b"not really"

    def test_an_oversize_pdf_is_flagged_too_large_with_no_data(self) -> None:
        """Over the limit, the bytes are dropped but the attachment is still reported."""
        message = _mail()
        message.add_attachment(PDF + b"x" * 5000, maintype="application", subtype="pdf", filename="big.pdf")
        (attachment,) = read_mail(message.as_bytes(), max_attachment_bytes=1000).attachments
        assert attachment.too_large
        assert attachment.data == b""
        assert attachment.kind == "pdf"

    def test_an_oversize_unnamed_pdf_still_reads_as_a_pdf(self) -> None:
        """A too-large octet-stream PDF keeps a .pdf name, so its kind survives losing its bytes."""
        raw = _raw_part('Content-Type: application/octet-stream; name="scan"', PDF + b"x" * 5000)
        (attachment,) = read_mail(raw, max_attachment_bytes=1000).attachments
        assert attachment.filename == "scan.pdf"
        assert attachment.kind == "pdf"

    def test_pictures_are_kept_by_their_bytes_and_text_files_are_not(self) -> None:
        """A photographed form is read by OCR, so pictures come back, known by their bytes whatever their
        declared type says (the parse worker tells a logo from a page); text and a ``.jpg`` that is no picture
        do not."""
        message = _mail()
        message.add_attachment(_picture(600, 800, "JPEG"), maintype="image", subtype="jpeg", filename="IMG_0412.JPG")
        message.add_attachment(_picture(40, 40, "PNG"), maintype="application", subtype="octet-stream")
        message.add_attachment(_picture(900, 600, "TIFF"), maintype="image", subtype="tiff", filename="scan.pdf")
        message.add_attachment(b"notes", maintype="text", subtype="plain", filename="notes.txt")
        message.add_attachment(b"not a picture", maintype="image", subtype="jpeg", filename="photo.jpg")
        kept = [(a.filename, a.kind) for a in read_mail(message.as_bytes()).attachments]
        # A picture named as a PDF is kept as that file (its bytes still decide how it is read).
        assert kept == [("IMG_0412.JPG", "image"), ("attachment-2.png", "image"), ("scan.pdf", "pdf")]

    def test_a_page_sized_picture_forwarded_past_the_limit_is_reported_for_the_team(self) -> None:
        """It may be a photographed form: as a deep PDF is, it is reported rather than dropped."""
        message = _forwarded(_picture(1240, 1754, "PNG"), times=MAX_FORWARDS + 3, filename="form.png")
        assert [(a.filename, a.skipped) for a in read_mail(message.as_bytes()).attachments] == [
            ("form.png", "too_deep")
        ]


class TestOtherAttachments:
    def test_word_outlook_and_winmail_dat_files_are_kept_for_later_parsers(self) -> None:
        """.docx, .doc, .msg and winmail.dat come back with their kind, for the parsers that read them."""
        message = _mail()
        docx = "vnd.openxmlformats-officedocument.wordprocessingml.document"
        message.add_attachment(b"PK\x03\x04", maintype="application", subtype=docx, filename="Form 2.docx")
        message.add_attachment(b"\xd0\xcf\x11\xe0", maintype="application", subtype="msword", filename="f.doc")
        message.add_attachment(b"\xd0\xcf\x11\xe0", maintype="application", subtype="octet-stream", filename="a.msg")
        message.add_attachment(b"\x78\x9f\x3e\x22", maintype="application", subtype="ms-tnef", filename="winmail.dat")
        kinds = [(a.filename, a.kind) for a in read_mail(message.as_bytes()).attachments]
        assert kinds == [("Form 2.docx", "docx"), ("f.doc", "doc"), ("a.msg", "msg"), ("winmail.dat", "tnef")]


class TestFileNames:
    def test_an_rfc2231_file_name_is_decoded(self) -> None:
        """filename*=UTF-8''… names (Outlook, Thunderbird) read as the sender wrote them."""
        raw = _raw_part(
            "Content-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename*=UTF-8''R%C3%A9f%C3%A9rence%20%E2%80%93%20Form%202.pdf",
            PDF,
        )
        assert [a.filename for a in read_mail(raw).attachments] == ["Référence – Form 2.pdf"]

    def test_an_encoded_word_file_name_is_decoded(self) -> None:
        """RFC 2047 encoded-words inside name=/filename= (not standard, but common) are decoded."""
        raw = _raw_part(
            'Content-Type: application/pdf; name="=?UTF-8?B?TcOpZGljYXRpb24gZm9ybS5wZGY=?="\r\n'
            'Content-Disposition: attachment; filename="=?UTF-8?B?TcOpZGljYXRpb24gZm9ybS5wZGY=?="',
            PDF,
        )
        assert [a.filename for a in read_mail(raw).attachments] == ["Médication form.pdf"]

    def test_an_unquoted_encoded_word_file_name_is_decoded(self) -> None:
        """filename==?utf-8?B?…?= (no quotes) defeats Python's default policy; the name is still recovered."""
        raw = _raw_part(
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename==?utf-8?B?Rm9ybSAyLnBkZg==?=",
            PDF,
        )
        assert [a.filename for a in read_mail(raw).attachments] == ["Form 2.pdf"]

    def test_a_path_traversal_name_keeps_only_its_last_component(self) -> None:
        """ "../../etc/passwd.pdf" can never point outside wherever the file is saved."""
        raw = _raw_part('Content-Type: application/pdf; name="../../etc/passwd.pdf"', PDF)
        assert [a.filename for a in read_mail(raw).attachments] == ["passwd.pdf"]

    def test_a_windows_path_name_keeps_only_its_last_component(self) -> None:
        """Old clients send C:\\TEMP\\… names."""
        assert sanitise_filename("C:\\TEMP\\Form 1.pdf", fallback="x.pdf") == "Form 1.pdf"

    def test_control_and_direction_characters_are_removed(self) -> None:
        """Control characters and right-to-left overrides cannot disguise a name on the team's screens."""
        assert sanitise_filename("form\x00\u202egpj.pdf\r\n", fallback="x.pdf") == "formgpj.pdf"

    def test_a_very_long_name_is_shortened_keeping_its_extension(self) -> None:
        """Names are bounded, and still end in .pdf."""
        name = sanitise_filename("a" * 500 + ".pdf", fallback="x.pdf")
        assert len(name.encode()) <= 150
        assert name.endswith(".pdf")

    def test_a_name_with_nothing_usable_left_gets_the_fallback(self) -> None:
        """ "..", "/" and empty names become attachment-N.pdf."""
        assert sanitise_filename("../..", fallback="attachment-1.pdf") == "attachment-1.pdf"
        assert sanitise_filename("", fallback="attachment-2.pdf") == "attachment-2.pdf"


class TestNeverRaises:
    def test_garbage_bytes_give_an_empty_mail(self) -> None:
        """Bytes that are not an email at all come back as a Mail with no attachments."""
        for raw in (b"", b"\x00\xff\xfe", b"This is not a valid eml.", b"\r\n\r\n\r\n", b"From:\r\n\r\n"):
            assert read_mail(raw).attachments == ()

    def test_a_broken_multipart_and_unknown_charset_do_not_raise(self) -> None:
        """Missing boundaries, unknown charsets and bad base64 are defects, not exceptions."""
        raw = (
            b"From: =?x-unknown?q?bad?= <a@b.c>\r\nSubject: =?x-unknown?q?bad?=\r\n"
            b'Content-Type: multipart/mixed; boundary="never"\r\n\r\n'
            b'--wrong\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            b"!!!not base64!!!\r\n"
        )
        mail = read_mail(raw)
        assert mail.sender == "a@b.c"
        assert mail.defects

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=3000))
    def test_any_bytes_at_all_give_a_mail(self, raw: bytes) -> None:
        """Whatever arrives, read_mail returns."""
        read_mail(raw)


# -- the content digest: what the sender wrote, whatever the way added ------------------------------------------


def _with_attachment(data: bytes = PDF, *, body: str = "Please find the referral attached.") -> EmailMessage:
    message = _mail()
    message.set_content(body)
    message.add_attachment(data, maintype="application", subtype="pdf", filename="Form 2.pdf")
    return message


def test_a_second_delivery_with_trace_headers_line_endings_and_a_new_transfer_encoding_has_the_same_digest() -> None:
    first = _with_attachment().as_bytes(policy=default.clone(linesep="\r\n"))
    again = _with_attachment()
    again["Received"] = "from relay.example.nhs.net by mx.nhs.net; Tue, 04 Mar 2025 10:15:02 +0000"
    again["X-MS-Exchange-Organization-SCL"] = "1"
    again.get_payload()[0].set_content("Please find the referral attached.", cte="quoted-printable")  # type: ignore[index]
    digest = read_mail(first).content_digest

    assert len(digest) == 64
    assert read_mail(again.as_bytes(policy=default.clone(linesep="\n"))).content_digest == digest


def test_a_different_body_or_attachment_byte_changes_the_digest() -> None:
    digest = read_mail(_with_attachment().as_bytes()).content_digest

    assert read_mail(_with_attachment(body="Another patient.").as_bytes()).content_digest != digest
    assert read_mail(_with_attachment(PDF.replace(b"1 0 obj", b"2 0 obj")).as_bytes()).content_digest != digest


def test_the_headers_of_a_forwarded_message_are_content() -> None:
    def forwarding(to: str) -> bytes:
        inner = _mail(To=to)
        outer = _mail()
        outer.add_attachment(inner)
        return outer.as_bytes()

    first = read_mail(forwarding("Bob Example <bob@example.net>")).content_digest
    assert read_mail(forwarding("Bob Example <bob@example.net>")).content_digest == first
    assert read_mail(forwarding("someone.else@example.net")).content_digest != first


def test_a_message_that_cannot_all_be_read_has_no_digest() -> None:
    def many_parts(last: bytes) -> bytes:
        parts = [b"--b\r\nContent-Type: text/plain\r\n\r\nsame\r\n"] * (MAX_PARTS + 5)
        parts.append(b"--b\r\nContent-Type: text/plain\r\n\r\n" + last + b"\r\n--b--\r\n")
        return b'From: a@example.org\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"".join(parts)

    assert read_mail(b"").content_digest != ""  # an empty message is read: it is empty
    assert read_mail(many_parts(b"one")).content_digest == "", "parts past the part limit are not seen"


def test_the_fingerprint_is_the_message_id_with_the_content_or_without_one_the_content_and_its_sender() -> None:
    from intake.assess import fingerprint

    def known_as(message: EmailMessage) -> str:
        raw = message.as_bytes()
        return fingerprint(read_mail(raw), raw)

    original = _with_attachment()
    again = _with_attachment()
    again["Received"] = "from relay.example.nhs.net by mx.nhs.net; Tue, 04 Mar 2025 10:15:02 +0000"
    other_content = _with_attachment(body="Another patient.")
    assert known_as(again) == known_as(original)
    assert known_as(other_content) != known_as(original), "a copied Message-ID with other content is another message"

    anonymous = _with_attachment()
    del anonymous["Message-ID"]
    anonymous_again = _with_attachment()
    del anonymous_again["Message-ID"]
    anonymous_again["Received"] = "from relay.example.nhs.net by mx.nhs.net; Tue, 04 Mar 2025 10:15:02 +0000"
    another_note = _with_attachment()
    del another_note["Message-ID"]
    another_note.replace_header("Date", "Tue, 04 Mar 2025 11:40:00 +0000")
    assert known_as(anonymous_again) == known_as(anonymous)
    assert known_as(another_note) != known_as(anonymous), "the same words sent again later are a new message"

    unread = b"x" * 10
    assert fingerprint(None, unread) != fingerprint(None, unread + b"y"), "unread: known by its bytes"


class TestTransfer:
    """A Mail comes back from the parse worker pickled; its headers stay read-only on arrival."""

    def test_a_mail_pickles_and_comes_back_equal_with_read_only_headers(self) -> None:
        message = _mail(Auto_Submitted="auto-replied")
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")
        mail = read_mail(message.as_bytes())

        back = pickle.loads(pickle.dumps(mail))

        assert back == mail
        assert dict(back.headers) == {"auto-submitted": "auto-replied", "content-type": "multipart/mixed"}
        with pytest.raises(TypeError):
            back.headers["auto-submitted"] = "no"  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            back.sender = "someone.else@nhs.net"  # type: ignore[misc]


class TestHeadersAlone:
    """``read_headers``: what is known of a message whose body did not fit in a worker's memory."""

    def test_the_sender_and_thread_are_read_and_the_body_stands_as_one_file_too_large(self) -> None:
        message = _mail(In_Reply_To="<nmss-intake.reply.1@nhs.net>")
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Form 2.pdf")

        mail = read_headers(message.as_bytes())

        assert (mail.sender, mail.message_id, mail.in_reply_to) == (
            "pharmacy.team@nhs.net",
            "abc.123@mail.example.nhs.net",
            "nmss-intake.reply.1@nhs.net",
        )
        assert mail.attachments == (Attachment("message-body", "", b"", skipped="too_large"),)

    @given(st.binary(max_size=2000))
    @settings(max_examples=200, deadline=None)
    def test_any_bytes_give_a_body_too_large_and_never_an_exception(self, raw: bytes) -> None:
        assert [a.skipped for a in read_headers(raw).attachments] == ["too_large"]
