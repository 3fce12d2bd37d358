"""Forms that arrive as pictures: photographed or scanned and attached to the email as JPEG, PNG, TIFF or HEIC,
or pasted into a Word file. They are read by OCR; the pictures every email carries (a signature's logo, an
inline image, a photo of something else) change nothing."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any

from config.forms import load_form_definitions
from parsers import Form, parse_document
from parsers.mail import read_mail
from samples.emails import referral_email
from samples.photos import docx_of_pictures, form_pages, logo, photo_of_something_else, picture_bytes
from samples.scenarios import Scenario

from .conftest import LONDON, Service, today


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
