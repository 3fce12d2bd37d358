"""Forms sent as pictures rather than PDFs: a phone's photo (JPEG or HEIC), a scan saved as TIFF, a Word file
with the scan pasted in, and the small pictures every email carries (a signature's logo). Made in memory from
the drawn flat forms (samples/scans.py), for the tests and the demo."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import docx
import pypdfium2
from docx.shared import Mm
from PIL import Image

from config.forms import FormKind
from parsers.types import Value
from samples.emails import referral_email
from samples.flat import flat_pdf
from samples.forms import complete_values, fillable_pdf
from samples.people import patient, seeded
from samples.scans import Condition, paper_style, spoil

PHONE = Condition("phone photo", dpi=200, skew=1.0, noise=4.0)
"""How the photos here are taken: a steady hand, good light."""


def form_pages(
    kind: FormKind, values: Mapping[str, Value], *, seed: int, condition: Condition = PHONE, numbered: bool = False
) -> list[Image.Image]:
    """Each page of form ``kind`` holding ``values``, printed (``numbered``: each label with its question's
    number before it) and photographed under ``condition``, in grey."""
    pdf = pypdfium2.PdfDocument(flat_pdf(kind, values, layout="table", style=paper_style(seed), numbered=numbered))
    rng = random.Random(seed)  # noqa: S311 - a reproducible picture, not a secret
    try:
        scale = condition.dpi / 72
        return [spoil(pdf[n].render(scale=scale, grayscale=True).to_pil(), condition, rng) for n in range(len(pdf))]
    finally:
        pdf.close()


def picture_bytes(page: Image.Image, picture_format: str) -> bytes:
    """``page`` saved as ``picture_format`` (``JPEG``, ``PNG``, ``TIFF``; ``HEIF`` through pillow-heif)."""
    out = io.BytesIO()
    if picture_format == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        page.convert("RGB").save(out, format="HEIF", quality=90)
    else:
        page.save(out, format=picture_format, **({"quality": 85} if picture_format == "JPEG" else {}))
    return out.getvalue()


def scanned_tiff(pages: list[Image.Image]) -> bytes:
    """All ``pages`` in one TIFF, a frame each, as a copier's "scan to email" saves them when set to TIFF."""
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    return out.getvalue()


def scanned_pdf(pages: list[Image.Image]) -> bytes:
    """All ``pages`` in one PDF of pictures, a page each at 200 dpi, as a copier's "scan to email" saves them."""
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=200.0, quality=85)
    return out.getvalue()


def logo(width: int = 120, height: int = 40) -> bytes:
    """A small PNG such as an email signature carries: never a page."""
    picture = Image.new("RGB", (width, height), (0, 94, 184))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def photo_of_something_else(seed: int = 0) -> bytes:
    """A page-sized JPEG holding no writing at all (a photo of a medicines cupboard, say): read, and no form."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible picture, not a secret
    picture = Image.new("RGB", (1200, 900), (200, 190, 170))
    for _ in range(40):
        x, y = rng.randrange(1100), rng.randrange(800)
        shade = tuple(rng.randrange(256) for _ in range(3))
        picture.paste(shade, (x, y, x + rng.randrange(20, 100), y + rng.randrange(20, 100)))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=80)
    return out.getvalue()


def docx_of_pictures(pictures: list[bytes]) -> bytes:
    """A Word document (.docx) holding only ``pictures``, one a page, and no text: a scan pasted into Word."""
    document = docx.Document()
    for number, picture in enumerate(pictures):
        if number:
            document.add_page_break()  # type: ignore[no-untyped-call]
        document.add_picture(io.BytesIO(picture), width=Mm(180))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def photographed_referral(day: dt.date, *, seed: int) -> tuple[bytes, list[bytes]]:
    """A referral from the patient's pharmacy whose Form 2 was photographed page by page with a phone and sent
    as one JPEG a page ("IMG_0412.jpg", "IMG_0413.jpg", …, ``image/jpeg``), Form 1 and the MIAT as fillable
    PDFs; with the photos, in the order attached."""
    person = patient(seeded("photographed", seed), today=day)
    values = {kind: complete_values(kind, person, today=day, seed=seed) for kind in ("form1", "form2", "miat")}
    photos = [picture_bytes(page, "JPEG") for page in form_pages("form2", values["form2"], seed=seed)]
    raw = referral_email(
        attachments=[
            ("Form1.pdf", fillable_pdf("form1", values["form1"])),
            ("MIAT.pdf", fillable_pdf("miat", values["miat"])),
        ],
        sender=person.pharmacy.email,
        subject="NMSS referral",
        date=dt.datetime.combine(day, dt.time(9, 45), tzinfo=ZoneInfo("Europe/London")),
    )
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    for number, photo in enumerate(photos):
        message.add_attachment(photo, maintype="image", subtype="jpeg", filename=f"IMG_{412 + number:04d}.jpg")
    return message.as_bytes(), photos
