"""Tick boxes read from a page's ink (parsers/ocr/ticks.py), on small pictures drawn here as a 250 dpi scan
of 9.5-point print would show them: each state of a box, how sure each reading is, and letters that are not
boxes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from config.forms import load_form_definitions
from parsers.ocr import read_page
from parsers.ocr.engine import Word
from parsers.ocr.layout import page_lines
from parsers.ocr.ticks import TickBox, dark_pixels, find_boxes, read_ink
from parsers.text import read_lines

DPI = 250.0
SIDE = 24
"""A 9.5-point ballot box's side at 250 dpi, in pixels."""
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
"""The font the sample forms print in (Debian's fonts-dejavu-core), with the ballot-box glyphs."""


def _page(width: int = 400, height: int = 80) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    picture = Image.new("L", (width, height), 255)
    return picture, ImageDraw.Draw(picture)


def _box(draw: ImageDraw.ImageDraw, x: int, y: int, mark: str = "", *, side: int = SIDE, ink: int = 0) -> None:
    """A printed box at (``x``, ``y``), then a pen's ``mark`` in it: "tick", "cross", "fill", "dash" or ""."""
    draw.rectangle((x, y, x + side - 1, y + side - 1), outline=ink, width=2)
    inner = (x + 5, y + 5, x + side - 6, y + side - 6)
    if mark == "cross":
        draw.line(inner, fill=0, width=3)
        draw.line((inner[0], inner[3], inner[2], inner[1]), fill=0, width=3)
    elif mark == "tick":
        draw.line((inner[0], y + side // 2, x + side // 2 - 2, inner[3]), fill=0, width=2)
        draw.line((x + side // 2 - 2, inner[3], inner[2], inner[1]), fill=0, width=2)
    elif mark == "fill":
        draw.rectangle((x, y, x + side - 1, y + side - 1), fill=0)
    elif mark == "dash":  # a pen's slip, or a tick begun and stopped
        draw.line((x + 9, y + 12, x + 14, y + 12), fill=0, width=2)


def _boxes(picture: Image.Image) -> list[TickBox]:
    return find_boxes(dark_pixels(np.asarray(picture, dtype=np.uint8)), DPI)


@pytest.mark.parametrize(
    ("mark", "ticked"),
    [("", False), ("tick", True), ("cross", True), ("fill", True)],
    ids=["empty", "ticked", "crossed", "filled"],
)
def test_each_state_of_a_box_is_read_from_its_ink_and_surely(mark: str, ticked: bool) -> None:
    picture, draw = _page()
    _box(draw, 40, 30, mark)

    [box] = _boxes(picture)

    assert box.ticked is ticked
    assert box.confidence >= 0.95
    assert (box.x0, box.top) == (40, 30)


def test_a_grey_box_on_a_grey_scan_is_read_the_same() -> None:
    picture, draw = _page()
    draw.rectangle((0, 0, 400, 80), fill=200)
    _box(draw, 40, 30, "cross", ink=60)
    _box(draw, 120, 30, "", ink=60)

    assert [(b.ticked, b.confidence >= 0.95) for b in _boxes(picture)] == [(True, True), (False, True)]


def test_a_short_mark_in_a_box_is_neither_a_sure_tick_nor_a_sure_blank() -> None:
    picture, draw = _page()
    _box(draw, 40, 30, "dash")

    [box] = _boxes(picture)

    assert box.confidence < 0.9


def test_confidence_is_the_margin_between_the_ink_and_the_threshold() -> None:
    readings = [read_ink(ink) for ink in (0.0, 0.2, 0.35, 0.45, 0.5, 0.7, 3.0)]

    assert [ticked for ticked, _ in readings] == [False, False, False, True, True, True, True]
    confidences = [confidence for _, confidence in readings]
    assert confidences[0] == confidences[-1] >= 0.95
    assert max(confidences[2], confidences[3]) < 0.9
    assert confidences[1] > confidences[2]
    assert confidences[4] > confidences[3]


def test_a_row_of_boxes_is_read_box_by_box_left_to_right() -> None:
    picture, draw = _page(500)
    for n, mark in enumerate(("", "cross", "", "tick")):
        _box(draw, 40 + 100 * n, 30, mark)

    boxes = sorted(_boxes(picture), key=lambda b: b.x0)

    assert [b.ticked for b in boxes] == [False, True, False, True]


def test_letters_are_not_boxes_but_the_ballot_glyphs_are() -> None:
    font = ImageFont.truetype(str(FONT), 33)  # 9.5 points at 250 dpi
    picture, draw = _page(1900, 160)
    draw.text((10, 10), "each larger hard Where assessed Pharmacy do bad DOB 0800 Qq", font=font, fill=0)
    draw.text((10, 90), "Yes ☒   No ☐   ☑ Home   adopted", font=font, fill=0)

    boxes = sorted(_boxes(picture), key=lambda b: b.x0)

    assert [b.ticked for b in boxes] == [True, False, True]
    assert all(b.top > 80 for b in boxes)
    assert all(b.confidence >= 0.95 for b in boxes)


def test_a_table_cell_or_a_letter_box_too_small_or_too_large_is_not_a_tick_box() -> None:
    picture, draw = _page(600, 200)
    draw.rectangle((20, 20, 300, 60), outline=0, width=2)  # a table's cell
    draw.rectangle((350, 20, 470, 140), outline=0, width=2)  # a photo's frame
    draw.rectangle((500, 30, 510, 40), outline=0, width=1)  # a speck of a box, smaller than any print

    assert _boxes(picture) == []


def test_a_box_with_a_word_set_against_it_is_part_of_the_text() -> None:
    picture, draw = _page()
    _box(draw, 40, 30, "")
    draw.rectangle((40 + SIDE + 2, 28, 40 + SIDE + 40, 56), fill=0)

    assert _boxes(picture) == []


def _printed(rows: list[tuple[str, str]]) -> Image.Image:
    """A scan's strip of a form: each row a label, then its answer in the value column."""
    font = ImageFont.truetype(str(FONT), 33)
    picture, draw = _page(1800, 90 * len(rows) + 60)
    for n, (label, answer) in enumerate(rows):
        draw.text((40, 40 + 90 * n), label, font=font, fill=0)
        draw.text((900, 40 + 90 * n), answer, font=font, fill=0)
    return picture


def test_score_rows_read_the_one_ticked_choice_and_two_ticks_are_no_answer() -> None:
    picture = _printed(
        [
            ("C1 Knows whether today's doses have been taken", "0 ☐   1 ☒   2 ☐"),
            ("C2 Has a daily routine for medicines", "0 ☒   1 ☐   2 ☒"),
            ("P1 Reads a standard label", "0 ☐   1 ☐   2 ☐   N/A ☒"),
            ("Where assessed", "☐ Pharmacy   ☑ Home   ☐ Telephone"),
            ("Cognitive score", "7"),
        ]
    )

    reading = read_lines(read_page(picture, DPI, 1), load_form_definitions()["miat"], dt.date(2025, 6, 15))

    assert reading.fields["cognitive.c1"] == 1
    assert reading.fields["physical.p1"] == "N/A"
    assert reading.fields["assessment.setting"] == "Home"
    assert reading.fields["score.cognitive"] == 7  # alone in its cell, which the page's reading drops
    assert set(reading.confidence) >= {"cognitive.c1", "physical.p1", "assessment.setting"}
    # Two boxes ticked where one answer is wanted: no answer is guessed, and the team is asked.
    assert "cognitive.c2" not in reading.fields
    assert [(e.key, e.code) for e in reading.invalid] == [("cognitive.c2", "unanswered")]


def test_an_item_code_whose_1_was_read_as_an_l_is_put_right_and_a_word_is_not() -> None:
    def word(x: float, text: str) -> Word:
        return Word(x, 100, x + 20 * len(text), 124, 124, text, 0.8)

    [line] = page_lines([word(40, "Cl"), word(100, "Knows"), word(700, "All"), word(800, "Al4")], 1, DPI)

    assert [s.text for s in line.segments] == ["C1 Knows", "All", "A14"]
