"""The log lets through ids, codes and timings, and nothing else."""

from __future__ import annotations

import io
import json
import logging

import structlog

from intake.logs import REDACTED, configure_logging


def logged(**values: object) -> dict[str, object]:
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    structlog.get_logger("test").info("something_happened", **values)
    return json.loads(stream.getvalue())  # type: ignore[no-any-return]


def test_known_safe_keys_are_logged_as_they_are() -> None:
    event = logged(ledger_id=7, outcome="incomplete", codes=["missing"])
    assert (event["ledger_id"], event["outcome"], event["codes"]) == (7, "incomplete", ["missing"])


def test_any_other_key_is_redacted_whatever_it_holds() -> None:
    event = logged(subject="Referral for Zebedee Quixotefield", nhs_number="999 123 4567", filename="Quixotefield.pdf")
    assert (event["subject"], event["nhs_number"], event["filename"]) == (REDACTED, REDACTED, REDACTED)


def test_an_exception_is_reduced_to_its_class_name() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        raise ValueError("could not parse 'Quixotefield, 03/04/1941'")
    except ValueError:
        structlog.get_logger("test").exception("parse_failed")
    text = stream.getvalue()
    assert json.loads(text)["error_type"] == "ValueError"
    assert "Quixotefield" not in text


def test_a_library_logging_through_the_standard_library_is_logged_by_name_only() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("pdfminer.pdfpage").warning("cannot read 'Quixotefield' on page %d", 1)
    event = json.loads(stream.getvalue())
    assert (event["event"], event["logger"], event["level"]) == ("library_log", "pdfminer.pdfpage", "warning")
    assert "Quixotefield" not in stream.getvalue()
