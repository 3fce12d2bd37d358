"""A referral's documents in the workspace: the originals to download, and each page drawn with a value marked.

- A document is addressed by its referral's reference and its number on the referral page
  (``/referrals/NMSS-…/documents/2``): no patient data, and not its file name, goes into a URL.
- A download is an attachment, never shown in the browser: ``Content-Disposition: attachment`` with the file
  name made safe (RFC 6266, with the UTF-8 name in RFC 8187's ``filename*``), the type checked from the bytes,
  ``nosniff`` and a Content-Security-Policy that sandboxes it. Each download goes into the referral's history.
- A page picture is drawn by pdfium in the isolated workers (``ParsePool.render``), never in this process: the
  PDF came from outside. Pictures are kept in a bounded cache by the file's digest and page, so seeing the
  fields of a form draws each page once.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from config.forms import FormDefinitions
from intake.accounts import Account
from intake.views import DocumentFacts, FieldPlace, Original, documents, original
from intake.web.auth import now_of, page, service_of
from intake.web.render import Link, error_page, value_text
from parsers.sniff import file_kind
from parsers.types import PagePicture, Place, Unreadable

DOWNLOAD_POLICY: Final = "default-src 'none'; sandbox; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""A download runs nothing and loads nothing, even if a browser were to show it."""

TYPES: Final = {"pdf": "application/pdf"}
"""The type a download is sent as, by what its bytes are (``parsers.sniff``). Anything else, a Word file
included (a ZIP's first bytes do not say it is one), is ``application/octet-stream``."""

CACHE_BYTES: Final = 64 * 1024 * 1024
"""Memory the page pictures of one workspace process may take: a few hundred pages."""

_SAFE_ASCII: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-()")
_NAME_CHARACTERS: Final = 150


class PictureCache:
    """Page pictures (or why a page cannot be drawn) by (sha256, page), least recently used dropped first once
    they take more than ``max_bytes``. Safe to share between the workspace's request threads."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], PagePicture | Unreadable] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> PagePicture | Unreadable | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, int], picture: PagePicture | Unreadable) -> None:
        size = _size(picture)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= _size(old) if old is not None else 0
            self._items[key] = picture
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _size(dropped)


def _size(picture: PagePicture | Unreadable) -> int:
    return len(picture.png) if isinstance(picture, PagePicture) else 64


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` (hostile: from an email) made safe: no folders, control characters or
    quotes; an ASCII ``filename`` for old browsers and the whole name, UTF-8, in ``filename*`` (RFC 6266)."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = name.strip(" .")[:_NAME_CHARACTERS] or "document"
    fallback = "".join(c if c in _SAFE_ASCII else "_" for c in name).strip(" .") or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@page()
def download(request: Request, account: Account, _form: FormData | None) -> Response:
    """The original of one document of a referral, as an attachment; the download goes into its history."""
    service = service_of(request)
    reference = request.path_params["reference"]
    number = int(request.path_params["number"])
    with service.services.unit_of_work() as uow:
        found = original(uow, reference, number)
        if found is not None and found.content is not None:
            uow.audit.record(
                "downloaded", at=now_of(request), message_id=found.message_id, by=account.email, document=number
            )
            uow.commit()
    if found is None:
        return _no_such_document(request, reference)
    if found.content is None:
        return _gone(request, found)
    kind = file_kind(found.content)
    filename = found.filename
    if kind == "pdf" and not filename.lower().endswith(".pdf"):
        # A form photographed page by page is kept as one PDF of its pictures, under its first picture's name.
        filename += ".pdf"
    return Response(
        found.content,
        media_type=TYPES.get(kind, "application/octet-stream"),
        headers={
            "Content-Disposition": content_disposition(filename),
            "Content-Security-Policy": DOWNLOAD_POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )


@page()
def page_picture(request: Request, _account: Account, _form: FormData | None) -> Response:
    """A page of a referral's PDF as a PNG, drawn in an isolated worker (the referral page shows it)."""
    service = service_of(request)
    reference = request.path_params["reference"]
    number = int(request.path_params["number"])
    page_number = int(request.path_params["page"])
    with service.services.unit_of_work() as uow:
        found = original(uow, reference, number)
    if found is None or found.content is None or found.sha256 is None:
        return Response(status_code=404 if found is None or not found.kept else 410)
    cache: PictureCache = request.app.state.pictures
    key = (found.sha256, page_number)
    picture = cache.get(key)
    if picture is None:
        picture = service.services.parse_pool.render(found.content, page_number)
        cache.put(key, picture)
    if isinstance(picture, Unreadable):
        return Response(status_code=404)
    return Response(picture.png, media_type="image/png", headers={"X-Content-Type-Options": "nosniff"})


def _no_such_document(request: Request, reference: str) -> Response:
    return error_page(
        request,
        404,
        "This referral has no such document",
        "Go back to the referral and choose one of its documents.",
        Link(f"/referrals/{reference}", "Back to the referral"),
    )


def _gone(request: Request, found: Original) -> Response:
    when = request.app.state.templates.filters["local_time"](found.purged_at) if found.purged_at else None
    message = (
        f"The original was deleted on {when} under the retention policy. What was read from it is still on the "
        "referral."
        if found.kept
        else "The original of this document was not kept. What was read from it is on the referral."
    )
    return error_page(
        request,
        410,
        "The original of this document is no longer kept",
        message,
        Link(f"/referrals/{found.reference}", "Back to the referral"),
    )


# -- the referral page's documents --------------------------------------------------------------------------


@dataclass(frozen=True)
class Picture:
    """A page picture with a value's place marked, in the page's points (an SVG ``viewBox``)."""

    href: str
    page: int
    width: float
    height: float
    mark: tuple[float, float, float, float]  # x, y, width, height
    alternative: str


@dataclass(frozen=True)
class FieldView:
    """One field of a document as the referral page shows it: its printed label, its value, where it was read."""

    id: str
    label: str
    value: str
    read_from: str | None
    picture: Picture | None


@dataclass(frozen=True)
class DocumentView:
    """One document on the referral page: its number, its fields, and its original (downloadable or why not)."""

    number: int
    title: str
    fields: tuple[FieldView, ...]
    download: str | None
    original: str


def document_views(
    request: Request, reference: str, forms: Any, definitions: FormDefinitions
) -> dict[int, DocumentView]:
    """The documents of the referral page (its ``FormSeen`` list, in order), by form id."""
    service = service_of(request)
    with service.services.unit_of_work() as uow:
        facts = documents(uow, [form.id for form in forms])
    filters = request.app.state.templates.filters
    local_time, form_title = filters["local_time"], filters["form_title"]
    views = {}
    numbers = {form.id: number for number, form in enumerate(forms, start=1)}
    for number, form in enumerate(forms, start=1):
        fact = facts.get(form.id)
        kept_as = numbers.get(fact.same_as, number) if fact is not None and fact.same_as is not None else number
        base = f"/referrals/{reference}/documents/{kept_as}"
        title = form_title(form.kind)
        if kept_as != number:
            kept = f"The same document as document {kept_as}, which came with an earlier email."
        elif fact is None or fact.size is None:
            kept = "The original of this document was not kept."
        elif fact.purged:
            when = local_time(fact.purged_at) if fact.purged_at else "an earlier date"
            kept = f"The original was deleted on {when} under the retention policy."
        else:
            kept = f"The original ({_bytes(fact.size)}) can be downloaded."
        views[form.id] = DocumentView(
            number=number,
            title=title,
            fields=tuple(_fields(form, fact, definitions, base, title, number)),
            download=base if fact is not None and fact.downloadable and kept_as == number else None,
            original=kept,
        )
    return views


def _fields(
    form: Any, fact: DocumentFacts | None, definitions: FormDefinitions, base: str, title: str, number: int
) -> list[FieldView]:
    definition = definitions.forms.get(form.kind) if form.kind else None
    order = [f.key for f in definition.fields] if definition else sorted(form.fields)
    places = fact.places if fact is not None else {}
    pictured = fact is not None and fact.downloadable and fact.source in ("acroform", "text")
    views = []
    for index, key in enumerate(k for k in order if k in form.fields):
        field = definition.field(key) if definition else None
        label = field.label if field else key
        where = places.get(key)
        picture = None
        if where is not None and where.place is not None and pictured:
            picture = _picture(where, where.place, f"{base}/pages/{where.page}", title, label)
        views.append(
            FieldView(
                id=f"document-{number}-field-{index + 1}",
                label=label,
                value=value_text(form.fields[key], field),
                read_from=_read_from(where, fact.source if fact else None, label),
                picture=picture,
            )
        )
    return views


def _picture(where: FieldPlace, place: Place, href: str, title: str, label: str) -> Picture:
    pad = 2.0
    x, y = max(0.0, place.left - pad), max(0.0, place.top - pad)
    width = min(place.page_width, place.right + pad) - x
    height = min(place.page_height, place.bottom + pad) - y
    return Picture(
        href=href,
        page=where.page,
        width=place.page_width,
        height=place.page_height,
        mark=(round(x, 1), round(y, 1), round(width, 1), round(height, 1)),
        alternative=f"Page {where.page} of {title} as it was sent, with “{label}” marked",
    )


def _read_from(where: FieldPlace | None, source: str | None, label: str) -> str | None:
    if where is None:
        return None
    if source == "acroform":
        return f"Read from page {where.page}, fillable field “{where.label}” (printed label “{label}”)"
    return f"Read from page {where.page}, beside the label “{where.label}”"


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
