"""Reading flat forms: labels and values from printed text, in the layouts forms-spec.md describes."""

from __future__ import annotations

import datetime as dt

import pytest

from config.forms import FormDefinitions, load_form_definitions
from parsers.labels import numbering, words
from parsers.text import Line, Segment, read_lines
from parsers.types import FieldError

TODAY = dt.date(2025, 6, 15)


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def lines(*rows: tuple[tuple[float, str], ...] | str) -> list[Line]:
    """Printed lines 12 points apart; a row is its text, or (x, text) cells standing apart."""
    out = []
    for n, row in enumerate(rows):
        cells = ((0.0, row),) if isinstance(row, str) else row
        out.append(Line(1, n * 12.0, 10.0, tuple(Segment(x, x + 40, text) for x, text in cells)))
    return out


def read(definitions: FormDefinitions, kind: str, *rows: tuple[tuple[float, str], ...] | str) -> dict[str, object]:
    return dict(read_lines(lines(*rows), definitions[kind], TODAY).fields)  # type: ignore[index]


def test_a_two_column_table_gives_the_value_beside_each_label(definitions: FormDefinitions) -> None:
    fields = read(
        definitions,
        "form2",
        ((0, "Surname"), (200, "Smith")),
        ((0, "Address"), (200, "1 High St")),
        ((200, "Norwich"),),
    )
    assert fields == {"patient.surname": "Smith", "patient.address": "1 High St\nNorwich"}


def test_label_colon_value_lines_are_read_whatever_the_case_spacing_and_star(definitions: FormDefinitions) -> None:
    fields = read(definitions, "form2", "SURNAME *: Smith", "forename (s): Ann Marie", "NHS No. - 999 123 4560")
    assert fields == {"patient.surname": "Smith", "patient.forenames": "Ann Marie", "patient.nhs_number": "9991234560"}


def test_a_value_on_the_line_below_its_label_is_read(definitions: FormDefinitions) -> None:
    assert read(definitions, "form2", "Date of birth", "3 April 1941", "Surname", "Smith") == {
        "patient.dob": dt.date(1941, 4, 3),
        "patient.surname": "Smith",
    }


def test_a_label_wrapped_over_two_lines_still_labels_its_value(definitions: FormDefinitions) -> None:
    fields = read(
        definitions,
        "form2",
        ((0, "Does the patient have a long-term"), (200, "☒ Yes ☐ No")),
        ((0, "impairment that makes taking medicines difficult?"),),
    )
    assert fields == {"ea.disability": True}


def test_ticked_options_are_read_with_or_without_their_codes_and_with_boxes_after(definitions: FormDefinitions) -> None:
    fields = read(
        definitions,
        "form2",
        "Reasons for referral (tick all that apply)",
        "☒ D4 Forgets to take doses",
        "☐ D5 Confused about what each medicine is for or",
        "when to take it",
        "[x] Difficulty swallowing",
        "Reasonable adjustments tried:",
        "Large-print labels (X)",
        "Blister pop-out aid ( )",
    )
    assert fields == {"reasons": ("D4", "D7"), "adjustments": ("A1",)}


def test_an_option_whose_code_was_misread_is_known_by_its_words(definitions: FormDefinitions) -> None:
    fields = read(
        definitions,
        "form2",
        "Reasonable adjustments tried (tick all that apply)",
        "Al Large-print labels ☒",
        "AQ Original packs with counselling ☒",
        "All Repeat dates synchronised ☐",
    )
    assert fields == {"adjustments": ("A1", "A9")}


@pytest.mark.parametrize(
    ("printed", "answer"), [("☒ Yes ☐ No", True), ("Yes ☐ No ✔", False), ("[ ] Yes [X] No", False)]
)
def test_a_yes_no_pair_gives_the_ticked_answer(definitions: FormDefinitions, printed: str, answer: bool) -> None:
    assert read(definitions, "form2", f"Lives alone: {printed}") == {"patient.lives_alone": answer}


def test_a_yes_no_pair_with_both_ticked_is_unanswered_and_with_neither_is_empty(definitions: FormDefinitions) -> None:
    both = read_lines(lines("Lives alone: ☒ Yes ☒ No"), definitions["form2"], TODAY)
    neither = read_lines(lines("Lives alone: ☐ Yes ☐ No"), definitions["form2"], TODAY)
    assert both.invalid == (FieldError("patient.lives_alone", "unanswered"),)
    assert neither.fields == {}
    assert neither.invalid == ()


def test_a_miat_score_is_read_as_a_number_or_as_the_ticked_option(definitions: FormDefinitions) -> None:
    fields = read(
        definitions,
        "miat",
        ((0, "C1 Knows whether today's doses have been taken"), (250, "2")),
        ((0, "P5 Measures a liquid dose"), (250, "☐ 0"), (290, "☐ 1"), (330, "☐ 2"), (370, "☒ N/A")),
    )
    assert fields == {"cognitive.c1": 2, "physical.p5": "N/A"}


def test_an_option_that_reads_like_another_label_is_still_the_value(definitions: FormDefinitions) -> None:
    fields = read(definitions, "form1", "GP practice", "Yare Valley Surgery", "Referrer role", "GP practice")
    assert fields == {"gp.practice_name": "Yare Valley Surgery", "referrer.role": "GP practice"}


def test_a_heading_ends_the_value_of_an_empty_field_above_it(definitions: FormDefinitions) -> None:
    rows = [*lines("End date"), Line(1, 14.0, 14.0, (Segment(0, 50, "Section 6"),)), *lines()]
    assert read_lines(rows, definitions["mar"], TODAY).fields == {}


def test_where_each_label_was_found_is_reported_even_when_nothing_is_written(definitions: FormDefinitions) -> None:
    found = read_lines(lines("Surname:", "Forename(s):"), definitions["form2"], TODAY).found
    assert [(f.key, f.page, f.label) for f in found] == [
        ("patient.forenames", 1, "Forename(s)"),
        ("patient.surname", 1, "Surname"),
    ]


def test_labels_with_a_question_number_before_them_are_matched(definitions: FormDefinitions) -> None:
    """Templates number their questions: the number is not part of the label, however it is written."""
    fields = read(
        definitions,
        "form2",
        "1. Surname: Smith",
        ((0, "Q2 Forename(s)"), (200, "Ann Marie")),
        "Q 3 Date of birth",
        "3 April 1941",
        ((0, "3) NHS number"), (200, "999 123 4560")),
        ((0, "2a. Postcode"), (200, "NR1 3SR")),
        ((0, "Question 6 Title"), (200, "Mrs")),
    )
    assert fields == {
        "patient.surname": "Smith",
        "patient.forenames": "Ann Marie",
        "patient.dob": dt.date(1941, 4, 3),
        "patient.nhs_number": "9991234560",
        "patient.postcode": "NR1 3SR",
        "patient.title": "Mrs",
    }


def test_a_numbered_label_ends_the_value_above_it_and_a_value_starting_with_a_number_is_kept(
    definitions: FormDefinitions,
) -> None:
    fields = read(
        definitions,
        "form2",
        ((0, "1. Address"), (200, "12 High St")),
        ((200, "Norwich"),),
        ((0, "2. Postcode"), (200, "NR1 3SR")),
    )
    assert fields == {"patient.address": "12 High St\nNorwich", "patient.postcode": "NR1 3SR"}


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("1. Surname", 1),
        ("Q3 Date of birth", 1),
        ("3) NHS number", 1),
        ("2a. Postcode", 1),
        ("Q 3 Title", 2),
        ("Question 12b Title", 2),
        ("1.2 Title", 2),
        ("Surname", 0),
        ("12", 0),
        ("999 123 4560", 2),
    ],
)
def test_numbering_counts_the_words_that_number_a_question(text: str, count: int) -> None:
    assert numbering(words(text)) == count


def test_a_value_goes_on_over_a_page_but_an_empty_last_row_does_not_take_the_next_page_s_heading(
    definitions: FormDefinitions,
) -> None:
    page_one = [
        Line(1, 700.0, 10.0, (Segment(0, 40, "Address"), Segment(200, 240, "1 High St"))),
        Line(1, 760.0, 10.0, (Segment(0, 40, "Telephone"),)),
    ]
    page_two = [Line(2, 70.0, 10.0, (Segment(0, 40, "Section: Description"),))]
    fields = read_lines(page_one + page_two, definitions["form2"], TODAY).fields
    assert "patient.phone" not in fields

    continued = [
        Line(1, 760.0, 10.0, (Segment(0, 40, "Address"), Segment(200, 240, "1 High St"))),
        Line(2, 70.0, 10.0, (Segment(200, 240, "Norwich"),)),
    ]
    assert read_lines(continued, definitions["form2"], TODAY).fields["patient.address"] == "1 High St\nNorwich"
