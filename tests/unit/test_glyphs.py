"""PDFium's glyphs are pdfminer's: the same lines and segments, in the same place, on any page shape.

Each PDF is written here by hand: one page, a content stream, a media box (perhaps not at the origin), a
``/Rotate`` and fonts. pdfminer (``parsers.text.GlyphCollector``) is the reference every reading is held to.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser

from config.forms import FormDefinitions, load_form_definitions
from parsers.geometry import Sheet
from parsers.glyphs import PdfiumText
from parsers.pdf import parse_pdf
from parsers.text import Glyph, GlyphCollector, Line, glyph_lines
from parsers.types import Form

TODAY = dt.date(2025, 6, 15)
MAR_TITLE = "Registration for NMSS MAR chart"
HELVETICA = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def one_page(
    content: str,
    *,
    media: str = "0 0 595 842",
    crop: str | None = None,
    rotate: int = 0,
    fonts: tuple[str, ...] = (HELVETICA,),
) -> bytes:
    """A PDF of one page drawing ``content``, its fonts /F1, /F2, ... as given."""
    first_font = 5
    font_names = " ".join(f"/F{n} {first_font + n - 1} 0 R" for n in range(1, len(fonts) + 1))
    page = f"<< /Type /Page /Parent 2 0 R /MediaBox [{media}] /Contents 4 0 R /Resources << /Font << {font_names} >> >>"
    page += (f" /CropBox [{crop}]" if crop else "") + (f" /Rotate {rotate}" if rotate else "") + " >>"
    bodies = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        page,
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        *fonts,
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets))
    out.write(f"trailer\n<< /Size {len(bodies) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def text_lines(lines: list[tuple[float, float, str]], *, size: float = 12, matrix: str | None = None) -> str:
    """Content drawing each (x, y, text) at ``size`` points in Helvetica, under ``matrix`` (a ``cm``) if given."""
    shown = "".join(f"BT /F1 {size} Tf {x} {y} Td ({text}) Tj ET\n" for x, y, text in lines)
    return f"q {matrix} cm\n{shown}Q" if matrix else shown


UPRIGHT_ON = {
    0: None,
    90: "0 1 -1 0 595 0",
    180: "-1 0 0 -1 595 842",
    270: "0 -1 1 0 0 842",
}
"""For each ``/Rotate``, the ``cm`` that turns text back so that it reads upright on the page as shown (its
lines are laid out on a page of the shown size: 842 wide when turned a quarter)."""


def pdfminer_glyphs(data: bytes) -> tuple[list[Glyph], Sheet]:
    document = PDFDocument(PDFParser(io.BytesIO(data)))
    page = next(iter(PDFPage.create_pages(document)))
    resources = PDFResourceManager()
    collector = GlyphCollector(resources)
    PDFPageInterpreter(resources, collector).process_page(page)
    return collector.glyphs, Sheet.of(page)


def pdfium_glyphs(data: bytes, sheet: Sheet) -> list[Glyph] | None:
    text = PdfiumText.open(data)
    assert text is not None
    with text:
        return text.glyphs(1, sheet)


def same_lines(ours: list[Line], reference: list[Line], *, within: float = 0.5) -> None:
    """The same lines, holding the same segments, each within ``within`` points of the reference's."""
    assert [[s.text for s in line.segments] for line in ours] == [[s.text for s in line.segments] for line in reference]
    for line, expected in zip(ours, reference, strict=True):
        assert line.y == pytest.approx(expected.y, abs=within)
        assert line.size == pytest.approx(expected.size, abs=0.01)
        for segment, other in zip(line.segments, expected.segments, strict=True):
            assert (segment.x0, segment.x1) == pytest.approx((other.x0, other.x1), abs=within)


FORM_TEXT = [
    (50.0, 780.0, MAR_TITLE),
    (50.0, 740.0, "Surname:"),
    (200.0, 740.0, "Smith"),
    (50.0, 720.0, "NHS number: 999 123 4567"),
]


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_text_upright_on_a_turned_page_gives_pdfminer_s_lines(rotate: int) -> None:
    data = one_page(text_lines(FORM_TEXT, matrix=UPRIGHT_ON[rotate]), rotate=rotate)
    reference, sheet = pdfminer_glyphs(data)
    ours = pdfium_glyphs(data, sheet)
    assert ours is not None
    lines = glyph_lines(ours, 1)
    same_lines(lines, glyph_lines(reference, 1))
    assert [line.text for line in lines][:2] == [MAR_TITLE, "Surname:  Smith"]


@pytest.mark.parametrize(
    ("content", "shape"),
    [
        (text_lines(FORM_TEXT), {"media": "20 30 615 872", "crop": "40 50 600 860"}),
        ("BT /F1 1 Tf 12 0 0 12 50 780 Tm (Surname: Smith) Tj ET", {}),
        ("BT /F1 12 Tf 150 Tz 50 780 Td (Surname:) Tj 120 0 Td (Smith) Tj ET", {}),
        ("BT /F1 12 Tf 2 Tc 50 780 Td (Surname: Smith) Tj ET", {}),
        ("BT /F1 12 Tf 3 Tr 50 780 Td (Surname: Smith) Tj ET", {}),
        (text_lines([(50, 780, "upside down on an upright page")], matrix="-1 0 0 -1 595 842"), {}),
    ],
    ids=[
        "media-box-off-the-origin",
        "size-in-the-text-matrix",
        "horizontal-scaling",
        "character-spacing",
        "invisible",
        "upside-down",
    ],
)
def test_text_drawn_in_any_way_pdfminer_reads_gives_its_lines(content: str, shape: dict[str, str]) -> None:
    data = one_page(content, **shape)  # type: ignore[arg-type]
    reference, sheet = pdfminer_glyphs(data)
    ours = pdfium_glyphs(data, sheet)
    assert ours is not None
    same_lines(glyph_lines(ours, 1), glyph_lines(reference, 1))


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_a_value_on_a_turned_page_is_placed_where_pdfminer_places_it(rotate: int, definitions: FormDefinitions) -> None:
    """The workspace draws a box round each value on the page's picture: PDFium's reading puts it in the same
    spot as pdfminer's, on a page shown turned as much as on an upright one."""
    data = one_page(text_lines(FORM_TEXT, matrix=UPRIGHT_ON[rotate]), rotate=rotate)
    ours = parse_pdf(data, "mar.pdf", definitions, today=TODAY)
    reference = parse_pdf(data, "mar.pdf", definitions, today=TODAY, reader="pdfminer")
    assert isinstance(ours, Form)
    assert isinstance(reference, Form)
    assert (ours.kind, dict(ours.fields)) == ("mar", {"patient.surname": "Smith", "patient.nhs_number": "9991234567"})
    assert dict(ours.fields) == dict(reference.fields)
    places = {f.key: f.place for f in ours.found}
    expected = {f.key: f.place for f in reference.found}
    assert places.keys() == expected.keys()
    for key, place in places.items():
        assert place is not None
        other = expected[key]
        assert other is not None
        assert (place.left, place.top, place.right, place.bottom) == pytest.approx(
            (other.left, other.top, other.right, other.bottom), abs=0.5
        )
        assert (place.page_width, place.page_height) == (other.page_width, other.page_height)
    # Turned a quarter, the page is shown landscape, and the value stays on it.
    surname = places["patient.surname"]
    assert surname is not None
    assert (surname.page_width, surname.page_height) == ((842, 595) if rotate in (90, 270) else (595, 842))
    assert 0 <= surname.left < surname.right <= surname.page_width


UNMAPPED = (
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
    " /Encoding << /Type /Encoding /Differences [1 /g1 /g2 /g3 /g4 /g5 /g6 /g7 /g8] >> >>"
)
"""A font whose codes 1 to 8 are glyphs named by the font's maker alone: no Unicode can be had for them."""


def test_a_page_whose_text_pdfium_cannot_map_to_unicode_is_read_by_pdfminer(definitions: FormDefinitions) -> None:
    codes = "<0102030405060708>" * 8
    content = text_lines(FORM_TEXT) + f"BT /F2 12 Tf 50 600 Td {codes} Tj ET\n"
    data = one_page(content, fonts=(HELVETICA, UNMAPPED))
    _, sheet = pdfminer_glyphs(data)
    assert pdfium_glyphs(data, sheet) is None
    ours = parse_pdf(data, "form.pdf", definitions, today=TODAY)
    reference = parse_pdf(data, "form.pdf", definitions, today=TODAY, reader="pdfminer")
    assert ours == reference
    assert isinstance(ours, Form)
    assert ours.fields["patient.surname"] == "Smith"


def test_pdfium_not_opening_a_file_says_so_rather_than_raising() -> None:
    assert PdfiumText.open(b"%PDF-1.7\n" + bytes(range(256)) * 4) is None
