"""Reading a form from pictures of its pages: scanned PDFs, and photos or scans sent as images.

Each page is rendered (pypdfium2) or decoded (Pillow; HEIC through pillow-heif) at about 250 dpi in grey,
turned upright (Tesseract's orientation detector: sideways and upside-down pages too), deskewed by the angle
at which its lines are sharpest, then read: words with their boxes and confidences from Tesseract, tick boxes
from the ink inside them (parsers/ocr/ticks.py). The words become the lines and segments the flat-PDF reader takes
(parsers/ocr/layout.py), so ``config/forms/`` stays the one place that knows the forms' labels, and the form
is read by :func:`parsers.text.read_lines` like any other. Every value carries the confidence of the least
sure word or box it was read from (``Form.confidence``); the rules decide what is sure enough.

Only the parse workers reach this package (through :func:`parsers.parse_document`), under their memory cap and
time limit. Functions here never raise but for MemoryError, which the worker reports as "too_large".
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Final

# Before numpy loads: each OpenBLAS thread reserves buffers that count against the worker's address-space
# cap, and nothing here multiplies matrices.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pypdfium2
from PIL import Image, ImageOps, ImageSequence

from config.forms import FormDefinition, FormDefinitions, FormKind
from parsers import SMALLEST_PAGE, may_be_a_page
from parsers.ocr.engine import Word, engine
from parsers.ocr.layout import page_lines
from parsers.ocr.ticks import TickBox, dark_pixels, find_boxes
from parsers.ocr.unread import unread_words
from parsers.recognise import by_filename, recognise
from parsers.text import Line, Segment, read_lines, title_text
from parsers.types import Document, Form, Unreadable, UnreadableProblem

DPI: Final = 250.0
"""What every page is read at: Tesseract wants 9-point capitals some 20 pixels high or more, and at 300 dpi a
page's reading (some 430 MB of address space at its peak) no longer fits the worker's default 512 MB cap."""

MAX_PAGES: Final = 6
"""Pages read at most: the forms have up to four; each page costs one to two seconds."""

_MAX_PIXELS: Final = 40_000_000
"""A page is scaled down to at most this many pixels (A4 at 300 dpi has 8.7 million)."""

Image.MAX_IMAGE_PIXELS = 100_000_000
"""A picture claiming more pixels than this is refused before it is decoded (a decompression bomb)."""

_A4_SHORT_SIDE: Final = 8.27
"""Inches: a photo or a scan saved as a picture says nothing true about its resolution, so a page is taken
to be A4 wide."""

_SMALLEST_PAGE: Final = SMALLEST_PAGE  # one threshold: parse_document checks it before loading this module
"""Pixels on a picture's short side below which it is not a page (a logo in a signature, an icon)."""

_UNSURE_PAGE: Final = 0.6
"""A page whose words average less confidence than this, with no orientation detected, is tried turned."""


def parse_scanned_pdf(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form on the pictures that make up PDF ``data``'s pages, or "scanned" when none is read there."""
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))
    try:
        return _read(_pdf_pages(pdf), len(pdf), filename, definitions, today, not_a_form="scanned")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a page pdfium cannot render, or no OCR engine: the team reads it
        return Unreadable(filename, "scanned", _kind_from_name(filename, definitions))
    finally:
        pdf.close()


def parse_image(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form in a picture (JPEG, PNG, TIFF with one page a frame, HEIC), or "unrecognised" when the picture
    is not one of the forms (a logo, a photo of something else)."""
    if data[4:8] == b"ftyp":
        # HEIC (a phone's photo): its decoder is loaded only for one, as it takes tens of MB of the worker's cap.
        import pillow_heif

        pillow_heif.register_heif_opener()
    try:
        picture = Image.open(io.BytesIO(data))
        frames = getattr(picture, "n_frames", 1)
    except Image.DecompressionBombError:
        return Unreadable(filename, "too_large")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - hostile bytes can make an image decoder raise anything
        # A picture that will not open is far more often a broken logo or signature than a form: not one of
        # the forms, as before pictures were read (a damaged scan in a PDF is still ``corrupt``).
        return Unreadable(filename, "unrecognised")
    if min(picture.size) < _SMALLEST_PAGE:
        return Unreadable(filename, "unrecognised")
    try:
        return _read(_image_pages(picture), frames, filename, definitions, today, not_a_form="unrecognised")
    except Image.DecompressionBombError:
        return Unreadable(filename, "too_large")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a frame that will not decode: the picture is damaged
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))


def parse_pictures(
    pictures: Sequence[bytes], filename: str, definitions: FormDefinitions, *, today: dt.date
) -> Document:
    """The form on ``pictures`` taken as a document's pages in order (a scan pasted into a Word file, a page a
    picture), or "scanned" when none is read there. Pictures too small to be a page (a logo) are passed over."""
    if any(data[4:8] == b"ftyp" for data in pictures):
        import pillow_heif

        pillow_heif.register_heif_opener()
    pages = [data for data in pictures if may_be_a_page(data)][:MAX_PAGES]
    if not pages:
        return Unreadable(filename, "scanned", _kind_from_name(filename, definitions))
    try:
        frames = (page for data in pages for page in _image_pages(Image.open(io.BytesIO(data))))
        return _read(frames, len(pages), filename, definitions, today, not_a_form="scanned")
    except Image.DecompressionBombError:
        return Unreadable(filename, "too_large")
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a picture that will not decode: the team reads the file
        return Unreadable(filename, "scanned", _kind_from_name(filename, definitions))


def _pdf_pages(pdf: pypdfium2.PdfDocument) -> Iterator[tuple[Image.Image, float]]:
    for number in range(min(len(pdf), MAX_PAGES)):
        page = pdf[number]
        try:
            width, height = page.get_size()
            dpi = min(DPI, 72.0 * (_MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
            yield page.render(scale=dpi / 72.0, grayscale=True).to_pil().convert("L"), dpi
        finally:
            page.close()


def _image_pages(picture: Image.Image) -> Iterator[tuple[Image.Image, float]]:
    for number, frame in enumerate(ImageSequence.Iterator(picture)):
        if number >= MAX_PAGES:
            return
        page = ImageOps.exif_transpose(frame).convert("L")
        dpi = min(page.size) / _A4_SHORT_SIDE
        scale = min(DPI / dpi, (_MAX_PIXELS / (page.width * page.height)) ** 0.5)
        if abs(scale - 1.0) > 0.1:
            page = page.resize((round(page.width * scale), round(page.height * scale)), Image.Resampling.LANCZOS)
            dpi *= scale
        yield page, dpi


def _read(
    pages: Iterator[tuple[Image.Image, float]],
    page_count: int,
    filename: str,
    definitions: FormDefinitions,
    today: dt.date,
    *,
    not_a_form: UnreadableProblem,
) -> Document:
    lines: list[Line] = []
    kind: FormKind | None = None
    for number, (image, dpi) in enumerate(pages, start=1):
        page, upright = _read_page(image, dpi, number)
        del image
        lines.extend(page)
        if number == 1:
            # A first page with nothing legible on it is no form to read, whatever the file is called.
            kind = recognise(title_text(lines), (), filename, definitions) if lines else None
            if kind is None:
                # Not one of the forms (or not legible): the rest of the file is not worth the time.
                return Unreadable(filename, not_a_form, _kind_from_name(filename, definitions))
        if kind is not None:
            lines = _second_reading(lines, upright, dpi, number, definitions[kind], today)
    if kind is None:
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))
    reading = read_lines(lines, definitions[kind], today)
    return Form(
        kind=kind,
        filename=filename,
        fields=reading.fields,
        invalid=reading.invalid,
        found=reading.found,
        source="ocr",
        pages=page_count,
        confidence={key: round(value, 3) for key, value in reading.confidence.items()},
    )


_SURER: Final = 0.8
"""A second reading replaces the first only when the engine was at least this sure of it: an I and an l are
one stroke in a sans font, and a second guess at one is no better than the first."""

_DISAGREED: Final = 0.5
"""The most a value is trusted when a second reading of it read something else."""


def _second_reading(
    lines: list[Line], image: Image.Image, dpi: float, page: int, definition: FormDefinition, today: dt.date
) -> list[Line]:
    """``lines`` with each value on page ``page`` read again from ``image`` (the page upright, at ``dpi``) as
    a block of text at twice the size, not as words scattered on a page: where the two readings differ, the
    value's segments are trusted no more than ``_DISAGREED``. The engine is sure of a handwritten J it took for
    a T in one reading and less often in both."""
    scale = dpi / 72.0
    boxes: list[tuple[float, float, float, float]] = []

    def locate(number: int, box: tuple[float, float, float, float]) -> None:
        if number == page:
            boxes.append(box)

    read_lines(lines, definition, today, locate=locate)
    reader = engine()
    doubted: dict[tuple[int, int], str | None] = {}
    """The segments whose second reading differed, with the text to take instead, if any."""
    for x0, low, x1, high in boxes:
        cells = [
            (i, k)
            for i, line in enumerate(lines)
            if line.page == page and low <= -line.y <= high
            for k, segment in enumerate(line.segments)
            if x0 <= (segment.x0 + segment.x1) / 2 <= x1
        ]
        texts = [lines[i].segments[k].text for i, k in cells]
        if not cells or any(glyph in text for glyph in _GLYPH_BOX for text in texts):
            continue  # a tick box's reading is its ink's (parsers/ocr/ticks.py), not a word's
        pad = 0.02 * dpi
        crop = image.crop(
            (
                max(0, round(x0 * scale - pad)),
                max(0, round(-high * scale - pad)),
                min(image.width, round(x1 * scale + pad)),
                min(image.height, round(-low * scale + pad)),
            )
        )
        # Twice the size: the engine sees the value afresh, not the same pixels the same way.
        words = [
            replace(word, text=text)
            for word in reader.block(crop.resize((crop.width * 2, crop.height * 2)))
            if (text := word.text.strip(_RULE_MARKS))
        ]
        if _letters("".join(w.text for w in words)) == _letters("".join(texts)):
            continue
        for i, k in cells:
            doubted[i, k] = None
        first = lines[cells[0][0]].segments[cells[0][1]]
        surer = min((w.confidence for w in words), default=0.0)
        if len(cells) == 1 and surer >= _SURER and surer > (first.confidence or 0.0):
            # One cell read better the second time (the engine broke a 6 into "eO" on the page): its text is
            # taken, but it stays unsure all the same.
            doubted[cells[0]] = " ".join(w.text for w in words)
    if not doubted:
        return lines
    return [
        replace(
            line,
            segments=tuple(
                _doubt(segment, doubted[i, k]) if (i, k) in doubted else segment
                for k, segment in enumerate(line.segments)
            ),
        )
        for i, line in enumerate(lines)
    ]


def _doubt(segment: Segment, better: str | None) -> Segment:
    """``segment`` read differently the second time: unsure, and with the second reading's text if better."""
    if better:
        return replace(segment, text=better, confidence=_DISAGREED)
    return replace(segment, confidence=min(segment.confidence or 0.0, _DISAGREED))


_GLYPH_BOX: Final = ("☒", "☐")

_RULE_MARKS: Final = "|[]{}_ "
"""What the edge of a cell's ruled line reads as, at either end of a word cut out beside it."""


def _letters(text: str) -> str:
    return "".join(text.split()).casefold()


def read_page(image: Image.Image, dpi: float, number: int) -> list[Line]:
    """One page's picture (grey, ``dpi``) as printed lines: turned upright, deskewed, words and tick boxes."""
    return _read_page(image, dpi, number)[0]


def _read_page(image: Image.Image, dpi: float, number: int) -> tuple[list[Line], Image.Image]:
    """The page's lines, and its picture as they were read from it (upright and level)."""
    reader = engine()
    seen = reader.orientation(image)
    if seen.turn:
        image = image.rotate(seen.turn, expand=True, fillcolor=255)
    if not seen.writing and not any(_like_text(word) for word in _words(image)):
        # A photo (a kitten, a holiday snap): the detector saw no script in it and the engine read nothing
        # like a word. No turn of it reads better, and looking for tick boxes in its texture or a second look
        # at its ink would cost seconds to find only specks.
        return [], image
    skew = _skew(image)
    if abs(skew) >= 0.05:
        image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    words = _words(_without_boxes(image, boxes := _boxes(image, dpi)))
    if seen.turn is None and _unsure(words):
        # No orientation was detected and the words read badly: the page may be upside down or sideways.
        tries = [(words, image, boxes)]
        for angle in (180, 90, 270):
            turned = image.rotate(angle, expand=True, fillcolor=255)
            turned_boxes = _boxes(turned, dpi)
            tries.append((_words(_without_boxes(turned, turned_boxes)), turned, turned_boxes))
        words, image, boxes = max(tries, key=lambda t: sum(w.confidence for w in t[0]))
    # A bar alone is the edge of a ruled line (a photo bends them out of the boxes' way), never writing: left
    # in, it stands before a label's last line and the label is not known.
    words = [word for word in words if set(word.text) != {"|"}]
    # Ink the page's reading passed over (a MIAT score's lone 0 1 2, a value alone in its cell) gets a second look.
    words += unread_words(reader, image, words, boxes, dpi)
    return page_lines(_with_boxes(words, boxes), number, dpi), image


_MOST_SKEW: Final = 4.0
"""Degrees a page is looked for leaning, either way: a copier's feeder skews a page by 3° at worst."""


def _skew(image: Image.Image) -> float:
    """The degrees the page is to be turned (anticlockwise, as ``Image.rotate`` takes them) for its lines to
    stand level: the angle at which its ink falls into the sharpest rows, text and ruled lines alike. Tesseract's
    layout analysis measures a page of a few lines as level, and one table row's values then fall among the
    next row's labels."""
    small = np.asarray(image.reduce(4), dtype=np.uint8)
    ink = Image.fromarray(np.where(dark_pixels(small), 255, 0).astype(np.uint8))

    def sharpness(angle: float) -> tuple[float, float]:
        rows = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32).sum(axis=1)
        # On a tie (turns too small to move a pixel of the small picture), the smaller turn.
        return float(np.dot(rows, rows)), -abs(angle)

    coarse = max((round(float(a), 2) for a in np.arange(-_MOST_SKEW, _MOST_SKEW + 0.01, 0.25)), key=sharpness)
    return max((round(float(a), 2) for a in np.arange(coarse - 0.25, coarse + 0.26, 0.05)), key=sharpness)


def _boxes(image: Image.Image, dpi: float) -> list[TickBox]:
    return find_boxes(dark_pixels(np.asarray(image, dtype=np.uint8)), dpi)


def _without_boxes(image: Image.Image, boxes: list[TickBox]) -> Image.Image:
    """The page with its tick boxes painted out: the engine reads them as letters ("O", "[]", an accent on the
    next word), and they are read from their ink instead."""
    if not boxes:
        return image
    cleaned = image.copy()
    for box in boxes:
        cleaned.paste(255, (box.x0 - 1, box.top - 1, box.x1 + 2, box.bottom + 2))
    return cleaned


def _words(image: Image.Image) -> list[Word]:
    """The engine's words on the page, or none when it fails on the page: one page it cannot read (a blank
    page between a form's pages) leaves the file's other pages to be read."""
    try:
        return engine().words(image)
    except RuntimeError:
        return []


_LIKE_TEXT: Final = 0.6
"""A word read at least this surely, of three letters or digits or more, looks like writing (a kitten's fur
reads as 130-odd "words" of a mark or two, at 0.14 on average)."""


def _like_text(word: Word) -> bool:
    return word.confidence >= _LIKE_TEXT and sum(c.isalnum() for c in word.text) >= 3


def _unsure(words: list[Word]) -> bool:
    return not words or sum(w.confidence for w in words) / len(words) < _UNSURE_PAGE


def _with_boxes(words: list[Word], boxes: list[TickBox]) -> list[Word]:
    """The words, less what the engine made of the tick boxes, and a ballot box (☒ or ☐) for each box."""
    if not boxes:
        return words
    kept = [w for w in words if not any(_mostly_inside(w, box) for box in boxes)]
    for box in boxes:
        kept.append(
            Word(box.x0, box.top, box.x1, box.bottom, box.bottom, "☒" if box.ticked else "☐", box.confidence, box=True)
        )
    return kept


def _mostly_inside(word: Word, box: TickBox) -> bool:
    """Whether most of ``word`` lies on ``box``: the engine's reading of the box itself ("O", "[]", "x")."""
    width = min(word.x1, box.x1) - max(word.x0, box.x0)
    height = min(word.bottom, box.bottom) - max(word.top, box.top)
    if width <= 0 or height <= 0:
        return False
    area = max(1.0, (word.x1 - word.x0) * (word.bottom - word.top))
    return width * height / area > 0.5


def _kind_from_name(filename: str, definitions: FormDefinitions) -> FormKind | None:
    try:
        return by_filename(filename, definitions)
    except Exception:  # noqa: BLE001 - only a hint for the team; never worth failing over
        return None
