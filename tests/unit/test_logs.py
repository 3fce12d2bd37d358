"""The log lets through ids, codes and timings, and nothing else."""

from __future__ import annotations

import ast
import functools
import io
import json
import logging
from pathlib import Path

import pytest
import structlog

from intake.logs import REDACTED, REDACTED_ON_PURPOSE, SAFE_KEYS, LibraryRecords, configure_logging


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


ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("config", "parsers", "rules", "notifier", "intake", "samples")
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg", "log", "bind"}


def _is_logger(node: ast.expr) -> bool:
    """``log``/``logger``, or ``structlog.get_logger(…)`` called in place."""
    if isinstance(node, ast.Name):
        return node.id in ("log", "logger")
    return isinstance(node, ast.Call) and ast.unparse(node.func).endswith("get_logger")


@functools.cache
def logged_keys() -> dict[str, list[str]]:
    """Every keyword a log call in the code passes, with where: ``log.info("event", key=…)``, ``.bind(key=…)``
    and ``structlog.contextvars.bind_contextvars(key=…)``. A ``**mapping`` is listed as ``**`` (its keys
    cannot be known from the source)."""
    keys: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                logging_call = node.func.attr in LOG_METHODS and _is_logger(node.func.value)
                if not (logging_call or node.func.attr == "bind_contextvars"):
                    continue
                for keyword in node.keywords:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    keys.setdefault(keyword.arg or "**", []).append(where)
    return keys


def test_the_source_scan_finds_the_log_calls_it_checks() -> None:
    keys = logged_keys()
    assert {"ledger_id", "outcome", "attempts", "resubmission_of"} <= set(keys)
    assert any(where.startswith("intake/pipeline.py") for where in keys["ledger_id"])


def test_every_key_a_log_line_carries_is_allowed_or_redacted_on_purpose() -> None:
    assert not SAFE_KEYS & REDACTED_ON_PURPOSE, "a key is either let through or redacted, not both"
    undecided = {key: where for key, where in logged_keys().items() if key not in SAFE_KEYS | REDACTED_ON_PURPOSE}
    assert undecided == {}, (
        "these log keys would print as [redacted] by accident: add each to SAFE_KEYS (ids, codes, counts, "
        "timings) or to REDACTED_ON_PURPOSE in intake/logs.py"
    )


def test_the_counts_and_ids_of_retries_and_resubmissions_reach_the_log() -> None:
    event = logged(attempts=3, permanent=False, retry_in_seconds=120.0, failures=2, resubmission_of=41)
    assert (event["attempts"], event["permanent"], event["retry_in_seconds"]) == (3, False, 120.0)
    assert (event["failures"], event["resubmission_of"]) == (2, 41)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def flood(stream: io.StringIO, clock: Clock, records: int, name: str = "tnefparse") -> list[dict[str, object]]:
    """Send ``records`` warnings from library logger ``name`` and return the events written meanwhile."""
    start = len(stream.getvalue())
    for number in range(records):
        logging.getLogger(name).warning("Skipping property %r", number)
    return [json.loads(line) for line in stream.getvalue()[start:].splitlines()]


Capped = tuple[io.StringIO, Clock, LibraryRecords]


@pytest.fixture(name="capped")
def _capped(monkeypatch: pytest.MonkeyPatch) -> Capped:
    """The service's logging into a string, with library records capped at 5 a minute on a hand-moved clock."""
    stream, clock = io.StringIO(), Clock()
    configure_logging("json", "info", stream=stream)
    handler = LibraryRecords(burst=5, window_seconds=60, clock=clock)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    return stream, clock, handler


def test_a_library_logging_in_a_loop_writes_a_few_lines_and_says_once_that_the_rest_are_left_out(
    capped: Capped,
) -> None:
    stream, clock, _ = capped

    events = flood(stream, clock, 100_000)

    assert [e["event"] for e in events] == ["library_log"] * 5 + ["library_log_flood"]
    assert {e["logger"] for e in events} == {"tnefparse"}


def test_the_number_left_out_is_told_with_the_loggers_next_record_in_a_later_window(capped: Capped) -> None:
    stream, clock, _ = capped
    flood(stream, clock, 1_000)

    clock.now += 61
    [event] = flood(stream, clock, 1)

    assert (event["event"], event["logger"], event["skipped"]) == ("library_log", "tnefparse", 994)


def test_the_number_left_out_is_told_at_shutdown_when_the_flood_was_still_going(capped: Capped) -> None:
    stream, clock, handler = capped
    flood(stream, clock, 1_000)
    start = len(stream.getvalue())

    handler.close()

    [event] = [json.loads(line) for line in stream.getvalue()[start:].splitlines()]
    assert (event["event"], event["logger"], event["skipped"]) == ("library_log_skipped", "tnefparse", 994)


def test_one_library_flooding_does_not_silence_another(capped: Capped) -> None:
    stream, clock, _ = capped
    flood(stream, clock, 1_000, name="tnefparse")

    events = flood(stream, clock, 2, name="pdfminer.pdfpage")

    assert [(e["event"], e["logger"]) for e in events] == [("library_log", "pdfminer.pdfpage")] * 2
