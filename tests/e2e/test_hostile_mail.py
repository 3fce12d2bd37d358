"""Hostile mail through the real CLI: one email an attacker sends cannot stop the service, and a form is never
dropped in silence because of how it was wrapped.

The first attack is a winmail.dat of 21 bytes (a TNEF signature, a key, and a MAPI properties attribute that claims
0xFFFFFFFF properties) in an email of a few hundred bytes: tnefparse loops four billion times over it, logging a
warning each time. It is opened in a parse worker, whose time limit is 8 s here (the default is 30 s). The
second is a header the ``email`` package takes minutes over: the message itself is read in a parse worker too.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import json
import os
import signal
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from intake.store import AuditEvent, FormRecord, MessageRecord, TaskRecord, make_engine
from rules.words import team_sentence
from samples.scenarios import accepted
from tests.unit.test_containers import endless_properties

from .conftest import Service, log_events, today

PARSE_TIMEOUT_SECONDS = "8"
"""Long enough for a referral's three forms on a busy machine; the attack runs into it every time."""

LOG_LINES_PER_MESSAGE = 10
"""What a message may write to the log: a decision, a filing, a reply sent. The attack wrote 212,000 in 70 s."""


@pytest.fixture
def hostile(service: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("NMSS_LIMITS__PARSE_TIMEOUT_SECONDS", PARSE_TIMEOUT_SECONDS)
    return service


def attack_email() -> bytes:
    """The whole attack as it arrives: a short text and the winmail.dat."""
    return (
        b"From: someone@example.org\r\nTo: agem.norfolkmedicineservices@nhs.net\r\nSubject: Referral\r\n"
        b"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <endless-tnef@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n'
        b'--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(endless_properties())
        + b"--b--\r\n"
    )


def deliver(service: Service, *messages: tuple[str, bytes]) -> None:
    """Messages into the Maildir, in the order given (the oldest is taken first)."""
    (service.mailbox / "new").mkdir(parents=True, exist_ok=True)
    for age, (name, raw) in enumerate(reversed(messages)):
        path = service.mailbox / "new" / name
        path.write_bytes(raw)
        stamp = dt.datetime.now(dt.UTC).timestamp() - 60 * (age + 1)
        os.utime(path, (stamp, stamp))


def taken(stdout: str) -> dict[str, str]:
    """Reference -> outcome, from ``run --once``'s report."""
    lines = [line.split() for line in stdout.splitlines() if line.strip().startswith("NMSS-")]
    return {line[0]: line[1] for line in lines}


def ledger(service: Service) -> dict[str | None, tuple[str | None, list[str | None], list[list[str]]]]:
    """Message-ID -> (outcome, each document's problem, for each team task about it the decision's reasons)."""
    engine = make_engine(service.database)
    try:
        with Session(engine) as session:
            found = {}
            for row in session.exec(select(MessageRecord)).all():
                forms = session.exec(select(FormRecord).where(FormRecord.message_id == row.id)).all()
                tasks = session.exec(select(TaskRecord).where(TaskRecord.message_id == row.id)).all()
                decided = session.exec(
                    select(AuditEvent).where(AuditEvent.message_id == row.id, AuditEvent.event == "decided")
                ).first()
                why = json.loads(decided.detail).get("reasons", []) if decided else []
                reasons = [why for _task in tasks]
                found[row.message_id] = (row.outcome, [f.problem for f in forms], reasons)
            return found
    finally:
        engine.dispose()


def test_the_email_that_hung_the_service_goes_to_the_team_and_the_referral_behind_it_is_decided(
    hostile: Service,
) -> None:
    referral = accepted(today(), seed=11)
    deliver(hostile, ("000.attack", attack_email()), ("001.referral", referral.raw))

    result = hostile.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert sorted(taken(result.stdout).values()) == ["accepted", "review"]
    assert hostile.folder_counts() == {"Accepted": 1, "Review": 1}
    assert ledger(hostile)["endless-tnef@example.org"] == ("review", ["timeout"], [["unreadable_form"]])
    assert len(result.stderr.splitlines()) <= 2 * LOG_LINES_PER_MESSAGE
    assert "library_log" not in {event["event"] for event in log_events(result.stderr)}


def test_check_says_the_attack_is_for_the_team_and_still_decides_the_next_email(hostile: Service) -> None:
    attack, referral = hostile.root / "attack.eml", hostile.root / "referral.eml"
    attack.write_bytes(attack_email())
    referral.write_bytes(accepted(today(), seed=12).raw)

    result = hostile.invoke("check", str(attack), str(referral), "--json", "--today", today().isoformat())

    assert result.exit_code == 0, result.output
    first, second = json.loads(result.stdout)
    assert (first["outcome"], [p["code"] for p in first["problems"]], first["reply"]) == ("review", ["timeout"], True)
    assert second["outcome"] == "accepted"
    assert len(result.stderr.splitlines()) <= 2 * LOG_LINES_PER_MESSAGE


def stalling_header_email(size: int = 1024 * 1024) -> bytes:
    """An email whose ``Content-Type`` holds ``size`` bytes of ``a=b;`` parameters. The email package takes time
    that grows faster than the header: 16 KB take it a second or two, 1 MB many minutes."""
    parameters = b"a=b;" * (size // 4)
    return (
        b"From: someone@example.org\r\nTo: agem.norfolkmedicineservices@nhs.net\r\nSubject: Referral\r\n"
        b"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: <stalling-header@example.org>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; " + parameters + b"\r\n\r\nAttached.\r\n"
    )


def test_an_email_whose_headers_stall_the_reader_goes_to_the_team_unanswered_and_the_referral_behind_is_decided(
    hostile: Service,
) -> None:
    referral = accepted(today(), seed=16)
    attack = stalling_header_email()
    deliver(hostile, ("000.attack", attack), ("001.referral", referral.raw))

    result = hostile.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert sorted(taken(result.stdout).values()) == ["accepted", "review"]
    assert hostile.folder_counts() == {"Accepted": 1, "Review": 1}
    # Its headers were never read: no Message-ID known, no forms, one item for the team and no reply.
    found = ledger(hostile)
    assert found[None] == ("review", [], [["message_read_timeout"]])
    assert list(hostile.outbox.glob("*.eml")) == []
    assert len(result.stderr.splitlines()) <= 2 * LOG_LINES_PER_MESSAGE


def test_check_says_an_email_whose_headers_stall_the_reader_is_for_the_team_and_decides_the_next(
    hostile: Service,
) -> None:
    attack, referral = hostile.root / "attack.eml", hostile.root / "referral.eml"
    attack.write_bytes(stalling_header_email())
    referral.write_bytes(accepted(today(), seed=17).raw)

    result = hostile.invoke("check", str(attack), str(referral), "--today", today().isoformat())

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        f"{attack}: review (no forms; no reply)",
        f"  message_read_timeout: {team_sentence('message_read_timeout')}",
        "  for the team: check the email and its attachments by hand, with care: it could not be read automatically",
    ]
    assert result.stdout.splitlines()[3].startswith(f"{referral}: accepted (")


def test_an_email_too_big_to_read_under_the_memory_cap_goes_to_the_team_and_its_sender_is_told(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 256 MB holds a worker and the headers, not the reading of a 25 MB attachment (the default, 512 MB, reads
    # attachments up to about 40 MB).
    monkeypatch.setenv("NMSS_LIMITS__PARSE_MEMORY_MB", "256")
    big = EmailMessage()
    big["From"] = "pharmacy.big@nhs.net"
    big["To"] = "agem.norfolkmedicineservices@nhs.net"
    big["Subject"] = "Referral"
    big["Message-ID"] = "<too-big-to-read@nhs.net>"
    big.set_content("Scanned forms attached.")
    big.add_attachment(b"%PDF-1.7\n" + bytes(25 * 1024 * 1024), "application", "pdf", filename="Form 2.pdf")
    deliver(service, ("000.big", big.as_bytes(policy=policy.SMTP)))

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert ledger(service)["too-big-to-read@nhs.net"] == ("review", ["too_large"], [["unreadable_form"]])
    [reply] = service.outbox.glob("*.eml")
    assert b"To: pharmacy.big@nhs.net" in reply.read_bytes(), "the sender hears it will be checked by hand"


def forwarded(raw: bytes, times: int) -> bytes:
    """``raw`` forwarded as an attachment ``times`` times over, each time by a different colleague."""
    for number in range(times):
        outer = EmailMessage()
        outer["From"] = f"colleague{number}@nhs.net"
        outer["To"] = "agem.norfolkmedicineservices@nhs.net"
        outer["Subject"] = "FW: Referral"
        outer["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
        outer["Message-ID"] = f"<forward-{times}-{number}@nhs.net>"
        outer.set_content("Forwarding as discussed.")
        outer.add_attachment(email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default))
        raw = outer.as_bytes(policy=policy.SMTP)
    return raw


def test_a_referral_forwarded_four_times_is_read_and_one_forwarded_ten_times_goes_to_the_team(
    service: Service,
) -> None:
    deliver(
        service,
        ("000.four", forwarded(accepted(today(), seed=13).raw, times=4)),
        ("001.ten", forwarded(accepted(today(), seed=14).raw, times=10)),
    )

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    found = ledger(service)
    assert found["forward-4-3@nhs.net"] == ("accepted", [None, None, None], [])
    outcome, problems, reasons = found["forward-10-9@nhs.net"]
    assert (outcome, set(problems)) == ("review", {"too_deep"})
    assert reasons == [["unreadable_form", "nested_too_deep"]]
    assert service.folder_counts() == {"Accepted": 1, "Review": 1}
    [reply] = service.outbox.glob("*.eml")
    assert b"To: colleague9@nhs.net" in reply.read_bytes(), "the last forwarder hears it will be checked by hand"


@pytest.mark.parametrize(("times", "outcome"), [(4, "accepted"), (6, "accepted"), (10, "review")])
def test_check_reads_a_forwarded_referral_at_realistic_depth_and_sends_a_deeper_one_to_the_team(
    service: Service, tmp_path: Path, times: int, outcome: str
) -> None:
    path = tmp_path / "forwarded.eml"
    path.write_bytes(forwarded(accepted(today(), seed=15).raw, times=times))

    result = service.invoke("check", str(path), "--json", "--today", today().isoformat())

    assert result.exit_code == 0, result.output
    [checked] = json.loads(result.stdout)
    assert checked["outcome"] == outcome
    assert checked["outcome"] != "not_a_submission"


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is still running (a zombie has ended: it only waits to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_killed_while_a_worker_is_stuck_on_the_attack_the_service_leaves_nothing_running(service: Service) -> None:
    deliver(service, ("000.attack", attack_email()))
    env = service.environment()
    env |= {"NMSS_LOG_FORMAT": "json", "NMSS_LIMITS__PARSE_TIMEOUT_SECONDS": "600"}  # only a kill ends this run
    script = Path(sys.executable).with_name("nmss-intake")
    run = subprocess.Popen(
        [str(script), "run", "--once"], cwd=service.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120  # guards against a hang, not a measure of speed
        workers: list[int] = []
        while not workers and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
            workers = [worker for helper in children(run.pid) for worker in children(helper)]
        started = children(run.pid) + workers
        assert workers, "the service should have a parse worker reading the attack"
    finally:
        run.kill()
        run.wait()

    while any(running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in started if running(pid)]
    for pid in left:  # so a failure here does not leave a core spinning for the tests after it
        os.kill(pid, signal.SIGKILL)
    assert left == [], "a worker outlived the service"
