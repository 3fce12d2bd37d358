"""A form photographed page by page, read through the real worker pool: what joins the form's pages and what
does not, and what is left when the pages cannot be read together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from config.forms import load_form_definitions
from intake.assess import read_documents
from intake.isolation import ParsePool
from parsers.mail import Attachment, Mail
from parsers.types import Form, PagesRead, Unreadable
from samples.photos import logo, photographed_referral

TODAY = dt.date(2026, 12, 1)


class OutOfTime(ParsePool):
    """A pool whose joint reading of pages always runs out of the message's time, as on a machine far too busy."""

    def read_pages(self, pictures: Sequence[bytes], filename: str, *args: Any, **kwargs: Any) -> PagesRead:
        return PagesRead(Unreadable(filename, "timeout"))


def _photos() -> list[bytes]:
    return photographed_referral(TODAY, seed=21)[1]


def _mail(*files: tuple[str, bytes]) -> Mail:
    return Mail(attachments=tuple(Attachment(name, "image/jpeg", data) for name, data in files))


def test_pages_that_cannot_be_read_together_leave_the_form_as_its_first_photo_read_it() -> None:
    photos = _photos()
    with OutOfTime(memory_mb=512, timeout_seconds=120) as pool:
        documents = read_documents(
            _mail(("IMG_0412.jpg", photos[0]), ("IMG_0413.jpg", photos[1])), load_form_definitions(), TODAY, pool=pool
        )

    assert [(type(d), d.filename, getattr(d, "kind", None), getattr(d, "pages", None)) for d in documents] == [
        (Form, "IMG_0412.jpg", "form2", 1)
    ], "the form stays, read from its first photo; the page it could not be read with is left out, as before"


def test_a_logo_after_a_form_photo_is_no_page_of_it() -> None:
    photos = _photos()
    with ParsePool(memory_mb=512, timeout_seconds=120) as pool:
        documents = read_documents(
            _mail(("IMG_0412.jpg", photos[0]), ("logo.png", logo())), load_form_definitions(), TODAY, pool=pool
        )

    assert [(d.filename, getattr(d, "kind", None), getattr(d, "pages", None)) for d in documents] == [
        ("IMG_0412.jpg", "form2", 1)
    ]
