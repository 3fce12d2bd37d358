"""Reading a page's picture: values in a table's cells on small pictures drawn here, as a scanner gives them.

A lone digit in a cell is read (the engine's page reading passes over it; a second look at the ink left
unread finds it), the ruled lines and corners of the table are never read as writing, and a code whose 0 and
O the engine may take for each other is read right or left unsure, never surely wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from parsers.ocr import read_page
from parsers.text import Line

DPI = 250
THRESHOLD = 0.9
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def table(rows: list[tuple[str, str]]) -> Image.Image:
    """``rows`` of (label, value) printed in a two-column table, 9.5-point DejaVu Sans, as the forms are."""
    font = ImageFont.truetype(str(FONT), round(9.5 * DPI / 72))
    page = Image.new("L", (round(8.27 * DPI), round(0.5 * DPI + 60 * len(rows))), 255)
    draw = ImageDraw.Draw(page)
    y = DPI // 4
    for label, value in rows:
        draw.rectangle((100, y, 1800, y + 60), outline=0, width=2)
        draw.line((900, y, 900, y + 60), fill=0, width=2)
        draw.text((115, y + 12), label, font=font, fill=0)
        draw.text((915, y + 12), value, font=font, fill=0)
        y += 60
    return page


def cells(lines: list[Line]) -> list[list[str]]:
    return [[segment.text for segment in line.segments] for line in lines]


def test_a_lone_digit_in_a_table_cell_is_read() -> None:
    rows = [("Number of regular medicines", "8"), ("Cognitive score", "1"), ("Physical score", "7")]

    lines = read_page(table(rows), DPI, 1)

    # Read right; how sure is the engine's business (a 1 alone is much like an l).
    assert cells(lines) == [[label, value] for label, value in rows]


def test_the_lines_and_corners_of_a_table_are_not_read_as_writing() -> None:
    rows = [("The patient consents to this referral", ""), ("Date signed", ""), ("Signed (print name)", "")]

    lines = read_page(table(rows), DPI, 1)

    assert cells(lines) == [[label] for label, _ in rows]


@pytest.mark.parametrize("code", ["FB09A", "F0O0A", "FO0OA", "D99003"])
def test_a_code_mixing_0_and_o_is_read_right_or_left_unsure(code: str) -> None:
    lines = read_page(table([("Pharmacy ODS code", code)]), DPI, 1)

    [[label, value]] = [[(s.text, s.confidence) for s in line.segments] for line in lines]
    assert label[0] == "Pharmacy ODS code"
    text, confidence = value
    assert confidence is not None
    assert text == code or confidence < THRESHOLD, f"{code} read surely as {text} ({confidence:.2f})"


@pytest.mark.parametrize("angle", [2.7, -2.4, 0.6])
def test_a_skewed_page_of_a_few_rows_is_read_row_by_row(angle: float) -> None:
    # A last page holding one short table: too few lines for the engine's own layout analysis to see its skew.
    rows = [("Date signed by pharmacy", "13/06/2025"), ("First MAR chart date", "22/06/2025")]
    page = table(rows).rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)

    lines = read_page(page, DPI, 1)

    assert cells(lines) == [[label, value] for label, value in rows]


@pytest.mark.parametrize("turned", [180, 270])
def test_a_page_of_a_few_rows_lying_sideways_or_upside_down_is_read_upright(turned: int) -> None:
    # Little text for the orientation detector to go on, and no script it can name on a photo: still turned.
    rows = [("Date signed by pharmacy", "13/06/2025"), ("First MAR chart date", "22/06/2025")]
    page = table(rows).rotate(turned, expand=True, fillcolor=255)

    lines = read_page(page, DPI, 1)

    assert cells(lines) == [[label, value] for label, value in rows]
