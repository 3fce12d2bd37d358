"""A referral whose Form 2 was printed, filled in and scanned: read by OCR, and put to the team whenever a
value was not read surely enough, with the referrer told only that it is being checked."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
from email import policy

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from config.forms import load_form_definitions
from parsers import Form, parse_document
from parsers.mail import read_mail
from samples.emails import referral_email
from samples.scans import Condition, picture_pdf, scanned_form
from samples.scenarios import Scenario

from .conftest import LONDON, Service, today


def referral_with_form2_scanned(scenarios: list[Scenario]) -> tuple[bytes, bytes]:
    """The accepted scenario's email with its Form 2 replaced by a 300 dpi scan of the same values."""
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    files = [(a.filename, a.data) for a in read_mail(scenario.raw).attachments]
    definitions = load_form_definitions()
    form2 = next(
        document
        for _, data in files
        if isinstance(document := parse_document(data, "form.pdf", definitions, today=today()), Form)
        and document.kind == "form2"
    )
    scan, _ = scanned_form("form2", form2.fields, Condition("300 dpi grey", dpi=300), seed=7)
    files = [(name, data) for name, data in files if "2" not in name] + [("Form 2 scanned.pdf", scan)]
    raw = referral_email(
        attachments=files,
        sender="pharmacy.scanner@nhs.net",
        subject="NMSS referral",
        date=dt.datetime.combine(today(), dt.time(10), tzinfo=LONDON),
        message_id="<scanned-form@nhs.net>",
    )
    return raw, scan


def test_a_scanned_form_is_read_by_ocr_and_an_unsure_reading_goes_to_the_team(
    service: Service, scenarios: list[Scenario], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, scan = referral_with_form2_scanned(scenarios)
    (service.root / "form2-scan.pdf").write_bytes(scan)

    parsed = json.loads(service.invoke("parse", "form2-scan.pdf", "--json").stdout)
    [result] = parsed
    assert (result["form"], result["source"], result["problem"]) == ("form2", "ocr", None)
    assert result["fields"], "values were read from the scan"
    assert set(result["confidence"]) == set(result["fields"])
    assert all(0.0 <= value <= 1.0 for value in result["confidence"].values())

    # No reading is ever sure enough at 1.0: the decision must go to the team, whatever the engine read.
    monkeypatch.setenv("NMSS_SERVICE__OCR_MIN_CONFIDENCE", "1.0")
    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "scanned.eml").write_bytes(raw)
    run = service.invoke("run", "--once")

    assert run.exit_code == 0, run.output
    line = next(line for line in run.stdout.splitlines() if line.strip().startswith("NMSS-"))
    reference, outcome = line.split()[:2]
    assert outcome == "review"
    assert service.folder_counts() == {"Review": 1}
    [queued] = json.loads(service.invoke("referrals", "list", "--json", "--status", "review").stdout)
    assert queued["reference"] == reference
    assert "ocr_uncertain" in queued["reasons"]

    [path] = service.outbox.glob("*.eml")
    reply = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "could not be read" in text
    assert "is empty" not in text, "no incomplete reply on the strength of OCR"
    assert "not valid" not in text


def test_a_blank_page_between_a_scanned_forms_pages_loses_none_of_the_form(scenarios: list[Scenario]) -> None:
    _, scan = referral_with_form2_scanned(scenarios)
    # The scan's pages are its pictures, taken out as they are.
    pages = [page.images[0].image.convert("L") for page in PdfReader(io.BytesIO(scan)).pages]
    assert len(pages) >= 2
    # The back of a sheet fed through the scanner: paper grey, a scanner's noise, nothing written.
    rng = np.random.default_rng(5)
    back = np.clip(rng.normal(240, 6, (pages[0].height, pages[0].width)), 0, 255).astype(np.uint8)
    with_blank = picture_pdf([pages[0], Image.fromarray(back), *pages[1:]], Condition("300 dpi grey", dpi=300))
    definitions = load_form_definitions()

    read = parse_document(with_blank, "form2-scan.pdf", definitions, today=today())
    alone = parse_document(scan, "form2-scan.pdf", definitions, today=today())

    assert isinstance(read, Form), read
    assert isinstance(alone, Form)
    assert (read.kind, read.source, read.pages) == ("form2", "ocr", len(pages) + 1)
    assert read.fields == alone.fields
