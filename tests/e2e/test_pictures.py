"""Forms that arrive as pictures: photographed or scanned and attached to the email as JPEG, PNG, TIFF or HEIC,
or pasted into a Word file. They are read by OCR; the pictures every email carries (a signature's logo, an
inline image, a photo of something else) change nothing."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from PIL.Image import Image
from pypdf import PdfReader

from config.forms import FormKind, load_form_definitions
from parsers import Form, parse_document
from parsers.mail import read_mail
from samples.emails import referral_email
from samples.photos import (
    docx_of_pictures,
    form_pages,
    logo,
    photo_of_something_else,
    picture_bytes,
    scanned_pdf,
)
from samples.scenarios import Scenario

from .conftest import LONDON, Service, today

pytestmark = pytest.mark.reading_only


def _scenario_files(scenario: Scenario) -> list[tuple[str, bytes, Form]]:
    definitions = load_form_definitions()
    files = []
    for attachment in read_mail(scenario.raw).attachments:
        document = parse_document(attachment.data, attachment.filename, definitions, today=today())
        assert isinstance(document, Form)
        files.append((attachment.filename, attachment.data, document))
    return files


def _email(files: list[tuple[str, bytes]], message_id: str) -> bytes:
    return referral_email(
        attachments=files,
        sender="pharmacy.photos@nhs.net",
        subject="NMSS referral",
        date=dt.datetime.combine(today(), dt.time(10), tzinfo=LONDON),
        message_id=f"<{message_id}@nhs.net>",
    )


def _check(service: Service, raw: bytes, name: str) -> dict[str, Any]:
    (service.root / name).write_bytes(raw)
    result = service.invoke("check", name, "--json")
    assert result.exit_code == 0, result.output
    [decided] = json.loads(result.stdout)
    return dict(decided)


def _with_pictures(raw: bytes, *pictures: tuple[bytes, str, str | None]) -> bytes:
    """``raw`` with each ``(bytes, subtype, Content-ID)`` added: inline when it has a Content-ID, as mail
    clients add a signature's logo, else attached."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for data, subtype, cid in pictures:
        if cid is not None:
            message.add_attachment(data, maintype="image", subtype=subtype, disposition="inline", cid=cid)
        else:
            message.add_attachment(data, maintype="image", subtype=subtype, filename=f"photo.{subtype}")
    return message.as_bytes()


def test_a_form_photographed_and_emailed_as_a_jpeg_is_read_by_ocr_and_goes_to_the_team(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Form 2 sent as a phone's photo of its first page: before pictures were read, the referral was
    "incomplete" for want of a Form 2 and the referrer was told to send it again."""
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    files = _scenario_files(scenario)
    form2 = next(form for _, _, form in files if form.kind == "form2")
    photo = picture_bytes(form_pages("form2", form2.fields, seed=7)[0], "JPEG")
    others = [(name, data) for name, data, form in files if form.kind != "form2"]
    raw = _email([*others, ("IMG_2041.JPG", photo)], "photo-form2")

    decided = _check(service, raw, "photo.eml")

    assert "form2" in decided["forms"], "the photo was read as Form 2"
    assert decided["outcome"] == "review"
    assert "ocr_uncertain" in decided["reasons"], "page 2 was not sent: its fields are for the team to check"
    assert not any(p["code"] == "missing_form" for p in decided["problems"])

    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "photo.eml").write_bytes(raw)
    run = service.invoke("run", "--once")
    assert run.exit_code == 0, run.output
    [reply] = service.outbox.glob("*.eml")
    text = email.message_from_bytes(reply.read_bytes(), policy=policy.default).get_body(("plain",))
    assert text is not None
    assert "could not be read" in text.get_content(), "told only that it will be checked by hand"


def test_logos_inline_images_and_a_photo_of_something_else_change_nothing(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Every scenario decided with and without a signature's logo (inline, by Content-ID), a tiny icon, a
    broken picture and a page-sized photo that holds no form: the same outcome, forms, problems, reply and
    tasks, and no document added to the referral."""
    extras = (
        (logo(), "png", "<logo@pharmacy.example>"),
        (logo(24, 24), "png", None),
        (b"\x89PNG\r\n\x1a\nbroken", "png", None),
        (photo_of_something_else(), "jpeg", None),
    )
    keys = ("outcome", "forms", "problems", "reply", "reasons", "tasks", "suppressed", "warnings")
    for number, scenario in enumerate(scenarios):
        plain = _check(service, scenario.raw, f"plain-{number}.eml")
        # Only the first gets the page-sized photo: reading it by OCR costs a few seconds, once is enough.
        pictures = extras if number == 0 else extras[:3]
        decorated = _check(service, _with_pictures(scenario.raw, *pictures), f"decorated-{number}.eml")
        assert {k: decorated.get(k) for k in keys} == {k: plain.get(k) for k in keys}, scenario.name

    accepted = next(s for s in scenarios if s.expected_outcome == "accepted")
    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "decorated.eml").write_bytes(_with_pictures(accepted.raw, *extras[:3]))
    assert service.invoke("run", "--once").exit_code == 0
    forms = service.rows("SELECT filename FROM form")
    assert len(forms) == len(read_mail(accepted.raw).attachments), "no picture joined the referral's documents"
    assert service.rows("SELECT count(*) FROM task") == [(0,)]


def test_a_word_file_holding_a_scan_of_the_form_is_read_by_ocr(service: Service, scenarios: list[Scenario]) -> None:
    """A referrer who scanned Form 2 and pasted its pages into Word, with no form text: the pictures are read
    by OCR (in the parse worker), not sent to the team as a "scanned" file nobody read."""
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    files = _scenario_files(scenario)
    form2 = next(form for _, _, form in files if form.kind == "form2")
    pages = [picture_bytes(page, "PNG") for page in form_pages("form2", form2.fields, seed=11)]
    word = docx_of_pictures(pages)
    (service.root / "scan.docx").write_bytes(word)

    [parsed] = json.loads(service.invoke("parse", "scan.docx", "--json").stdout)
    assert (parsed["form"], parsed["source"], parsed["problem"]) == ("form2", "ocr", None)
    assert set(parsed["confidence"]) == set(parsed["fields"])
    assert parsed["fields"].get("patient.surname") == form2.fields["patient.surname"]

    others = [(name, data) for name, data, form in files if form.kind != "form2"]
    decided = _check(service, _email([*others, ("Form 2.docx", word)], "word-scan"), "word-scan.eml")
    assert "form2" in decided["forms"]
    assert decided["outcome"] in ("accepted", "review")
    assert not any(p["code"] in ("missing_form", "scanned") for p in decided["problems"])


def test_a_phones_heic_photo_of_a_form_is_read_by_ocr(service: Service, scenarios: list[Scenario]) -> None:
    """iPhones save photos as HEIC: one of Form 2's first page, made by pillow-heif's own encoder and sent as
    the Mail app sends it (``image/heic``), is read as Form 2 by OCR."""
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    files = _scenario_files(scenario)
    form2 = next(form for _, _, form in files if form.kind == "form2")
    photo = picture_bytes(form_pages("form2", form2.fields, seed=5)[0], "HEIF")
    assert photo[4:12] == b"ftypheic"
    (service.root / "IMG_0001.HEIC").write_bytes(photo)

    [parsed] = json.loads(service.invoke("parse", "IMG_0001.HEIC", "--json").stdout)
    assert (parsed["form"], parsed["source"]) == ("form2", "ocr")
    assert parsed["fields"].get("patient.surname") == form2.fields["patient.surname"]

    message = email.message_from_bytes(
        _email([(name, data) for name, data, form in files if form.kind != "form2"], "heic"), policy=policy.default
    )
    assert isinstance(message, EmailMessage)
    message.add_attachment(photo, maintype="image", subtype="heic", filename="IMG_0001.HEIC")
    decided = _check(service, message.as_bytes(), "heic.eml")
    assert "form2" in decided["forms"]
    assert decided["outcome"] == "review"
    assert "ocr_uncertain" in decided["reasons"]


def _photographed(scenarios: list[Scenario], kind: FormKind, seed: int) -> tuple[list[tuple[str, bytes]], list[Image]]:
    """The accepted scenario's files but form ``kind``, and that form's pages photographed (``seed``)."""
    files = _scenario_files(next(s for s in scenarios if s.expected_outcome == "accepted"))
    form = next(form for _, _, form in files if form.kind == kind)
    return [(name, data) for name, data, form in files if form.kind != kind], form_pages(kind, form.fields, seed=seed)


def test_a_form_photographed_page_by_page_reaches_the_outcome_of_the_same_form_scanned_as_one_pdf(
    service: Service, scenarios: list[Scenario]
) -> None:
    """A phone's way: Form 2 photographed a page at a time and sent as "IMG_0412.jpg", "IMG_0413.jpg", ….
    Only page 1 has the form's title; the later pages are read as its next pages, not left out, so the
    referral is decided on every page, as the same pages scanned into one PDF are, and the team can download
    every page."""
    others, pages = _photographed(scenarios, "form2", seed=7)
    assert len(pages) >= 2
    photos = [(f"IMG_{412 + n:04d}.jpg", picture_bytes(page, "JPEG")) for n, page in enumerate(pages)]
    scan = scanned_pdf(pages)
    (service.root / "scan.pdf").write_bytes(scan)
    [read_from_scan] = json.loads(service.invoke("parse", "scan.pdf", "--json").stdout)
    scanned = _check(service, _email([*others, ("Form 2 scanned.pdf", scan)], "scan"), "scan.eml")
    raw = _with_photos(_email(others, "photos"), photos)

    photographed = _check(service, raw, "photos.eml")

    # The same decision; which values OCR was unsure of may differ (a photo is read from its pixels, a PDF
    # drawn by pdfium), never whether a form or a field is missing.
    keys = ("outcome", "forms", "reply", "reasons", "tasks")
    assert {k: photographed[k] for k in keys} == {k: scanned[k] for k in keys}
    assert _not_ocr(photographed["problems"]) == _not_ocr(scanned["problems"])

    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "photos.eml").write_bytes(raw)
    run = service.invoke("run", "--once")
    assert run.exit_code == 0, run.output
    line = next(line for line in run.stdout.splitlines() if line.strip().startswith("NMSS-"))
    assert line.split()[1] == scanned["outcome"]
    rows = service.rows(
        "SELECT f.filename, f.fields_json, ff.content FROM form f JOIN form_file ff ON ff.form_id = f.id"
    )
    assert [name for name, _, _ in rows].count("IMG_0412.jpg") == 1
    assert not {name for name, _, _ in rows} & {name for name, _ in photos[1:]}, "no page is a document of its own"
    [(fields_json, kept)] = [(fields, bytes(content)) for name, fields, content in rows if name == "IMG_0412.jpg"]
    fields = json.loads(fields_json)
    # Which values OCR gets right is the reader's own accuracy; which fields it finds is whether it saw the page.
    assert set(read_from_scan["fields"]) <= set(fields), (
        "every field read from the scan's pages was read from the photos"
    )
    later = set(read_from_scan["fields"]) - set(_first_page_fields(service, photos[0][1]))
    assert later, "the scan's later pages hold values page 1 does not"
    assert later <= set(fields)
    assert len(PdfReader(io.BytesIO(kept)).pages) == len(pages), (
        "every page is kept for the team, in the order attached"
    )


def _with_photos(raw: bytes, photos: list[tuple[str, bytes]]) -> bytes:
    """``raw`` with each ``(name, JPEG)`` attached as a phone's mail app attaches it (``image/jpeg``)."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for name, data in photos:
        message.add_attachment(data, maintype="image", subtype="jpeg", filename=name)
    return message.as_bytes()


def _not_ocr(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in problems if p["code"] != "ocr_uncertain"]


def _first_page_fields(service: Service, photo: bytes) -> dict[str, Any]:
    (service.root / "IMG_0412.jpg").write_bytes(photo)
    [read] = json.loads(service.invoke("parse", "IMG_0412.jpg", "--json").stdout)
    return dict(read["fields"])


def test_two_forms_each_photographed_on_a_page_of_its_own_are_two_forms(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Form 1's photo and Form 2's, each a form alone (Form 1 by its name: the drawn sample's title runs off
    its page), in either order: neither is read as the other's next page, and neither is left out."""
    others, form2_pages = _photographed(scenarios, "form2", seed=3)
    form1 = next(form for _, _, form in _scenario_files(scenarios[0]) if form.kind == "form1")
    photos = [
        ("Form 1.jpg", picture_bytes(form_pages("form1", form1.fields, seed=4)[0], "JPEG")),
        ("Form 2.jpg", picture_bytes(form2_pages[0], "JPEG")),
    ]
    miat = [(name, data) for name, data in others if "MIAT" in name]

    for order, sent in (("form1-first", photos), ("form2-first", photos[::-1])):
        decided = _check(service, _with_photos(_email(miat, order), sent), f"{order}.eml")

        assert sorted(decided["forms"]) == ["form1", "form2", "miat"], order
        assert not any(p["code"] == "missing_form" for p in decided["problems"]), order
