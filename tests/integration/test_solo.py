"""Solo attempts: one message decided alone in a child process, and how that ended, as the pipeline sees it.

The functions a child runs are sent to it by name, so they live at module level.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.forms import load_form_definitions
from config.settings import LimitSettings, ServiceSettings
from intake.solo import SoloAttempts, SoloJob, decide_alone
from samples.emails import referral_email
from samples.scenarios import accepted
from tests.integration.test_hostile import slow

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
TODAY = dt.datetime.now(LONDON).date()


def job(raw: bytes, limits: LimitSettings | None = None) -> SoloJob:
    return SoloJob(
        raw=raw,
        definitions=load_form_definitions(),
        service=ServiceSettings(),
        limits=limits or LimitSettings(),
        received_at=dt.datetime.now(dt.UTC),
        today=TODAY,
    )


def die(job: SoloJob) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fail(job: SoloJob) -> None:
    raise RuntimeError("a bug the service turns into a quarantined message")


def never_finish(job: SoloJob) -> None:
    while True:
        time.sleep(60)


def chatter(job: SoloJob) -> None:
    # What a third-party library might print about the mail it chokes on.
    print("Patient: Ada Example, NHS number 999 000 0001")
    print("Traceback (most recent call last):", file=sys.stderr)


def die_unless(problems: list[str | None], outcome: str) -> Callable[[SoloJob], None]:
    """A decision that checks what the real one found, and dies unless it is as expected: the only way a child
    can say so (an exception counts as finished)."""
    return functools.partial(_die_unless, problems, outcome)


def _die_unless(problems: list[str | None], outcome: str, job: SoloJob) -> None:
    try:
        assessment = decide_alone(job)
        found = [getattr(d, "problem", None) for d in assessment.documents]
        ok = (found, assessment.outcome.kind) == (problems, outcome)
    except BaseException:  # noqa: BLE001 - any failure must show as the child dying
        ok = False
    if not ok:
        die(job)


def wait_forever_noting_the_pid(job: SoloJob) -> None:
    Path(os.environ["SOLO_PID_FILE"]).write_text(str(os.getpid()))
    never_finish(job)


def attempt_forever() -> None:
    """A service waiting on a solo attempt that never ends (run in a process of its own, to be killed)."""
    SoloAttempts(decide=wait_forever_noting_the_pid).attempt(job(b""))


def gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # dead, waiting for a parent that may never come to collect it


def test_a_message_the_service_can_decide_finishes_alone() -> None:
    raw = accepted(TODAY, seed=3).raw
    assert SoloAttempts().attempt(job(raw)) == "finished"
    assert SoloAttempts(decide=die_unless([None, None, None], "accepted")).attempt(job(raw)) == "finished"


def test_a_document_past_its_parse_time_limit_is_a_timeout_in_the_child_too_not_a_hang() -> None:
    raw = referral_email(
        attachments=[("Form 2.pdf", slow())],
        sender="pharmacy@nhs.net",
        subject="Referral",
        date=dt.datetime.now(dt.UTC),
    )
    limits = LimitSettings(parse_timeout_seconds=1, parse_memory_mb=256)
    # The child's own limit is far beyond the document's: only a child that ignored the document's would reach it.
    solo = SoloAttempts(decide=die_unless(["timeout"], "review"), time_limit_seconds=300)
    assert solo.attempt(job(raw, limits)) == "finished"


def test_an_exception_is_an_ending_the_service_handles_not_a_crash() -> None:
    assert SoloAttempts(decide=fail).attempt(job(b"")) == "finished"


def test_a_child_that_dies_is_a_crash() -> None:
    assert SoloAttempts(decide=die).attempt(job(b"")) == "crashed"


def test_a_child_that_never_finishes_is_killed_at_its_time_limit() -> None:
    assert SoloAttempts(decide=never_finish, time_limit_seconds=0.5).attempt(job(b"")) == "hung"


def test_nothing_the_child_prints_reaches_the_services_output(capfd: pytest.CaptureFixture[str]) -> None:
    assert SoloAttempts(decide=chatter).attempt(job(b"")) == "finished"

    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_a_child_dies_with_the_service_that_waits_for_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    service = subprocess.Popen(
        [sys.executable, "-c", "from tests.integration.test_solo import attempt_forever; attempt_forever()"],
        cwd=ROOT,
        env={**os.environ, "SOLO_PID_FILE": str(pid_file)},
    )
    try:
        deadline = time.monotonic() + 120  # a busy machine's process start, not a measurement
        while not pid_file.exists() or not pid_file.read_text():
            assert service.poll() is None, "the service ended by itself"
            assert time.monotonic() < deadline, "the solo attempt never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
    finally:
        service.kill()
        service.wait(timeout=60)

    deadline = time.monotonic() + 60
    while not gone(child):
        assert time.monotonic() < deadline, "the solo attempt outlived the service"
        time.sleep(0.05)
