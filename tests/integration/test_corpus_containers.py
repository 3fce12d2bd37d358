"""Real Outlook containers from other projects' test suites: an Outlook .msg item and TNEF winmail.dat files.

None of them holds a form (the corpora have pictures and text bodies only), so these show that real
containers open, that what they hold is listed, and that nothing in them is taken for a form. ``opened`` is
what a parse worker does with an email's containers; the last test goes through the worker pool itself.
"""

from __future__ import annotations

import datetime as dt
import email
import io
from email import policy
from email.message import EmailMessage

from PIL import Image, ImageOps

from config.forms import load_form_definitions
from intake.assess import read_documents
from intake.isolation import ParsePool
from parsers.containers import msg_files, tnef_files
from parsers.mail import read_mail
from parsers.ocr import read_page
from parsers.types import Unreadable
from tests.corpora import require_corpora
from tests.unit.test_containers import opened

CORPORA = require_corpora()
OUTLOOK_ITEM = CORPORA / "emails" / "spamscope-mail-parser" / "mail_outlook_1.msg"
RICH_TEXT = "emails/mimekit/rich-text.eml"
"""An email whose winmail.dat holds a picture and a rich-text body."""
NOT_TNEF = "emails/zbateson-mail-mime-parser/m4006.eml"
"""An email with a file named winmail.dat that is not TNEF."""
TODAY = dt.date(2026, 1, 5)


def test_a_real_outlook_item_opens_and_lists_the_pictures_it_holds() -> None:
    files = msg_files(OUTLOOK_ITEM.read_bytes())

    assert [file.name for file in files] == [
        "newsletter.png",
        "spacer.gif",
        "image004.jpg",
        "image006.jpg",
        "image008.jpg",
    ]
    assert all(file.data and file.skipped is None for file in files)


def email_with_the_outlook_item() -> bytes:
    message = EmailMessage()
    message["From"] = "pharmacy@nhs.net"
    message["Subject"] = "Fwd: referral"
    message.set_content("See the attached item.")
    message.add_attachment(
        OUTLOOK_ITEM.read_bytes(), maintype="application", subtype="vnd.ms-outlook", filename="item.msg"
    )
    return message.as_bytes()


def test_a_real_outlook_item_attached_to_an_email_is_opened_and_gives_no_forms() -> None:
    assert opened(email_with_the_outlook_item()) == []


def test_a_real_winmail_dat_opens_and_its_pictures_are_not_taken_for_forms() -> None:
    relative = RICH_TEXT

    names = [file.name for file in tnef_files(winmail_in_raw(relative))]

    assert "kitten-playing-with-a-christmas-tree.jpg" in names
    # A page-sized picture may be a photographed form: it comes out to be read by OCR (which finds none).
    # Outlook keeps it twice (the attachment, and the copy in the rich text): read_documents reads it once.
    assert [(a.filename, a.kind) for a in opened((CORPORA / relative).read_bytes())] == [
        ("kitten-playing-with-a-christmas-tree.jpg", "image")
    ] * 2


def test_a_real_photo_read_as_a_page_has_no_lines_in_any_orientation() -> None:
    kitten = next(f for f in tnef_files(winmail_in_raw(RICH_TEXT)) if f.name.endswith(".jpg"))
    picture = ImageOps.exif_transpose(Image.open(io.BytesIO(kitten.data))).convert("L")

    assert read_page(picture, min(picture.size) / 8.27, 1) == []


def test_a_file_named_winmail_dat_that_is_not_tnef_is_kept_as_a_container_that_could_not_be_opened() -> None:
    found = opened((CORPORA / NOT_TNEF).read_bytes())

    assert [(a.filename, a.kind) for a in found] == [("winmail.dat", "tnef")]


def test_real_containers_are_opened_in_the_parse_workers_and_an_unopenable_one_is_reported() -> None:
    raws = [email_with_the_outlook_item(), *((CORPORA / relative).read_bytes() for relative in (RICH_TEXT, NOT_TNEF))]
    definitions = load_form_definitions()

    # The default cap: the kitten's photo is read by OCR, which needs more than 256 MB (README, OCR).
    with ParsePool(timeout_seconds=60, memory_mb=512) as pool:
        documents = [read_documents(read_mail(raw), definitions, TODAY, pool=pool) for raw in raws]

    assert documents == [(), (), (Unreadable("winmail.dat", "corrupt"),)]


def winmail_in_raw(relative: str) -> bytes:
    """The winmail.dat part's bytes, taken with the stdlib so read_mail's own opening of it is not involved."""
    message = email.message_from_bytes((CORPORA / relative).read_bytes(), policy=policy.default)
    for part in message.walk():
        if part.get_filename() == "winmail.dat":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("no winmail.dat part")
