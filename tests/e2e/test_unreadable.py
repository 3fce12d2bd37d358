"""A referral with a form the service cannot read goes to the team, and the sender hears it will be checked by hand."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
from email import policy

import pypdf
from msoffcrypto.format.ooxml import OOXMLFile

from config.forms import load_form_definitions
from config.settings import load_settings
from intake.bootstrap import bootstrap
from intake.views import hand_reply_draft
from parsers import Form, parse_document
from parsers.mail import read_mail
from samples.emails import referral_email
from samples.scenarios import Scenario
from samples.wordfile import word_document

from .conftest import LONDON, Service, today


def password_protected(data: bytes) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password="practice-password", owner_password="practice-owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def referral_with_form2_locked(scenarios: list[Scenario]) -> bytes:
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    files = [
        (a.filename, password_protected(a.data) if "2" in a.filename else a.data)
        for a in read_mail(scenario.raw).attachments
    ]
    assert any("2" in name for name, _ in files)
    return referral_email(
        attachments=files,
        sender="pharmacy.locked@nhs.net",
        subject="NMSS referral",
        date=dt.datetime.combine(today(), dt.time(10), tzinfo=LONDON),
        message_id="<locked-form@nhs.net>",
    )


def test_a_password_protected_form_goes_to_the_team_and_the_sender_is_told_it_will_be_checked_by_hand(
    service: Service, scenarios: list[Scenario]
) -> None:
    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "locked.eml").write_bytes(referral_with_form2_locked(scenarios))

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("NMSS-"))
    reference, outcome = line.split()[:2]
    assert outcome == "review"
    assert service.folder_counts() == {"Review": 1}

    queue = json.loads(service.invoke("referrals", "list", "--json", "--status", "review").stdout)
    assert [item["reference"] for item in queue] == [reference]
    tasks = json.loads(service.invoke("tasks", "list", "--json").stdout)
    assert [(task["reference"], task["action"]) for task in tasks] == [
        (reference, "check the form by hand: it could not be read automatically")
    ]

    [path] = service.outbox.glob("*.eml")
    reply = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert reply["To"].addresses[0].addr_spec == "pharmacy.locked@nhs.net"
    assert reference in text
    assert "could not be read" in text
    assert "check it by hand" in text
    assert "Form 2" not in text, "the reply names no attachment"


def test_check_says_review_for_the_same_message_without_touching_anything(
    service: Service, scenarios: list[Scenario]
) -> None:
    path = service.root / "locked.eml"
    path.write_bytes(referral_with_form2_locked(scenarios))

    result = service.invoke("check", str(path), "--json", "--today", today().isoformat())

    assert result.exit_code == 0, result.output
    [checked] = json.loads(result.stdout)
    assert (checked["outcome"], checked["reply"]) == ("review", True)
    assert not service.outbox.exists()


def word_saved_with_a_password(data: bytes) -> bytes:
    """``data`` (a .docx) as Word's "Encrypt with password" saves it: an OLE file holding an EncryptedPackage."""
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("practice-password", out)
    return out.getvalue()


def test_a_word_form_saved_with_a_password_is_told_as_a_locked_pdf_is(
    service: Service, scenarios: list[Scenario]
) -> None:
    """Before, a password-protected .docx was "unrecognised" (not a form at all): the referral was decided as if
    Form 2 were missing and the referrer was asked for it. Now it is "encrypted", as a locked PDF is."""
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    definitions = load_form_definitions()
    files = [(a.filename, a.data) for a in read_mail(scenario.raw).attachments]
    form2 = next(
        document
        for _, data in files
        if isinstance(document := parse_document(data, "f.pdf", definitions, today=today()), Form)
        and document.kind == "form2"
    )
    locked_word = word_saved_with_a_password(word_document("form2", form2.fields))
    assert locked_word.startswith(b"\xd0\xcf\x11\xe0")
    (service.root / "Form 2.docx").write_bytes(locked_word)

    parsed = service.invoke("parse", "Form 2.docx", "--json")
    [result] = json.loads(parsed.stdout)
    assert (result["problem"], result["readable"]) == ("encrypted", False)
    assert parsed.exit_code == 1
    assert "password" in parsed.stderr

    others = [(name, data) for name, data in files if "2" not in name]
    word_email = referral_email(
        attachments=[*others, ("Form 2.docx", locked_word)],
        sender="pharmacy.locked@nhs.net",
        subject="NMSS referral",
        date=dt.datetime.combine(today(), dt.time(10), tzinfo=LONDON),
        message_id="<locked-word@nhs.net>",
    )
    checked = {}
    for name, raw in (("pdf.eml", referral_with_form2_locked(scenarios)), ("word.eml", word_email)):
        (service.root / name).write_bytes(raw)
        [checked[name]] = json.loads(service.invoke("check", name, "--json").stdout)
    keys = ("outcome", "reply", "reasons", "tasks", "suppressed")
    assert {k: checked["word.eml"][k] for k in keys} == {k: checked["pdf.eml"][k] for k in keys}
    assert [p["code"] for p in checked["word.eml"]["problems"]] == ["encrypted"]
    assert [p["code"] for p in checked["pdf.eml"]["problems"]] == ["encrypted"]


def test_a_locked_form_from_a_scanner_that_sends_as_a_machine_is_answered_by_hand_with_the_check_by_hand_words(
    service: Service, scenarios: list[Scenario]
) -> None:
    """A copier's scan-to-email marks its mail Auto-Submitted, so nobody is answered automatically; the reply
    the team writes by hand starts from the words the referrer was due ("a member of the team will check it by
    hand"), not from the list of missing forms of an incomplete referral."""
    message = email.message_from_bytes(referral_with_form2_locked(scenarios), policy=policy.default)
    message["Auto-Submitted"] = "auto-generated"
    (service.mailbox / "new").mkdir(parents=True)
    (service.mailbox / "new" / "locked.eml").write_bytes(message.as_bytes())

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    assert not list(service.outbox.glob("*.eml"))
    tasks = json.loads(service.invoke("tasks", "list", "--json").stdout)
    assert sorted(task["kind"] for task in tasks) == ["reply_held_back", "unreadable_form"]
    [held] = [task for task in tasks if task["kind"] == "reply_held_back"]
    app = bootstrap(load_settings())
    with app.services.unit_of_work() as uow:
        draft = hand_reply_draft(uow, held["id"], app.settings.service)
    app.engine.dispose()
    assert draft is not None
    assert "check it by hand" in " ".join(draft.body.split())
