"""After OCR's decision: a referral held for its scan to be checked is a task for the team (the task list, the
digest, the workspace's Needing your action), and a resubmission, which decides the stored forms again, still
knows the scanned form for what it is: read by OCR, with its confidences and the fields to check marked."""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.cli import cli
from intake.web import create_app
from samples.forms import complete_values
from samples.scans import Condition, scanned_form

from .conftest import Service
from .test_resubmission import Referral, deliver, replies, run, tasks

ACTION = "check the fields read from a scan against the form: the marked ones were not read surely enough"
PASSWORD = "correct horse battery staple"


def _with_form2_scanned(referral: Referral) -> bytes:
    values = complete_values("form2", referral.person, today=referral.day, seed=referral.seed)
    scan, _ = scanned_form("form2", values, Condition("300 dpi grey", dpi=300), seed=7)
    # The Form 1 email, with Form 2 as a copier's scan beside it.
    message = email.message_from_bytes(referral.email("form1"), _class=EmailMessage, policy=policy.default)
    assert isinstance(message, EmailMessage)
    message.add_attachment(scan, maintype="application", subtype="pdf", filename="Form 2 scan.pdf")
    return message.as_bytes()


def _scanned_rows(service: Service) -> list[tuple[int, str, dict[str, float], set[str]]]:
    """Each stored Form 2 row: its message, how it was read, its confidences and the fields marked to check."""
    rows = service.rows("SELECT message_id, source, confidence_json, invalid_json FROM form WHERE kind = 'form2'")
    return [
        (message, source, json.loads(confidence), {key for key, code in json.loads(invalid) if code == "ocr_uncertain"})
        for message, source, confidence, invalid in sorted(rows)
    ]


def test_an_unsure_scan_is_a_task_and_a_resubmission_keeps_it_a_scan_to_check(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No reading is ever sure enough at 1.0: whatever the engine read, the referral is for the team to check.
    monkeypatch.setenv("NMSS_SERVICE__OCR_MIN_CONFIDENCE", "1.0")
    referral = Referral(seed=61)
    deliver(service, _with_form2_scanned(referral))

    [[reference, outcome, *_]] = run(service)

    assert outcome == "review"
    [task] = tasks(service)
    assert (task["reference"], task["kind"], task["action"]) == (reference, "ocr_uncertain", ACTION)
    digest = service.invoke("digest", "--print").stdout
    assert "NEEDING YOUR ACTION (1)" in digest
    assert ACTION in digest
    [(first, source, confidence, marked)] = _scanned_rows(service)
    assert source == "ocr"
    assert confidence, "how surely each value was read"
    assert marked, "the fields for the team to check"

    # The referrer answers our reply ("it will be checked by hand") with the MIAT.
    [reply] = replies(service)
    message_id = reply["Message-ID"].strip()
    answer = referral.email("miat", minute=30, **{"In-Reply-To": message_id, "References": message_id})
    deliver(service, answer)
    [[again, resubmitted, *_]] = run(service)

    assert (again, resubmitted) == (reference, "review"), "never 'incomplete' on the strength of OCR"
    [queued] = json.loads(service.invoke("referrals", "list", "--json").stdout)
    assert "ocr_uncertain" in queued["reasons"]
    [_, (second, source_again, confidence_again, marked_again)] = _scanned_rows(service)
    assert second != first
    assert (source_again, confidence_again, marked_again) == (source, confidence, marked)
    assert len(replies(service)) == 1, "the referrer was told once that the scan will be checked by hand"
    # The team sees the referral once: the scan's task stays open for the scan still to check, and the second
    # "will be checked by hand" reply, held back by the one-reply-per-submission limit, is nothing to send by
    # hand: the referrer has those words already.
    [still_open] = tasks(service)
    assert (still_open["id"], still_open["kind"], still_open["reference"]) == (task["id"], "ocr_uncertain", reference)

    # Once the team has checked it, a further resubmission with the scan still unsure is a new check to make.
    done = service.invoke("tasks", "done", str(task["id"]), "--note", "checked against the scan")
    assert done.exit_code == 0, done.output
    deliver(service, referral.email("miat", minute=45, **{"In-Reply-To": message_id, "References": message_id}))
    [[third, _, *_]] = run(service)

    assert third == reference
    [new_task] = tasks(service)
    assert new_task["id"] != task["id"]
    assert (new_task["kind"], new_task["reference"], new_task["action"]) == ("ocr_uncertain", reference, ACTION)
    assert len(replies(service)) == 1

    # The workspace's Needing your action page lists it too.
    added = CliRunner().invoke(cli, ["users", "add", "team@nhs.net", "--role", "team", "--password-stdin"], PASSWORD)
    assert added.exit_code == 0, added.output
    app = bootstrap(load_settings())
    with TestClient(create_app(app), base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/sign-in")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = client.post("/sign-in", data={"email": "team@nhs.net", "password": PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text
        needing = client.get("/tasks").text
    app.engine.dispose()
    assert ACTION.capitalize() in needing
    assert reference in needing
