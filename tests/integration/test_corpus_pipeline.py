"""Real-world mail from other projects' test suites, through the whole pipeline: every message gets an outcome.

The corpora live beside the repository (../shared/corpora, or NMSS_CORPUS_DIR) and are never copied into it.
"""

from __future__ import annotations

from collections import Counter
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import Session, select

from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Services, send_outbox, take_new_mail
from intake.store import AuditEvent, MessageRecord, OutboxRecord, TaskRecord, make_engine
from tests.corpora import require_corpora
from tests.services import pipeline_services

CORPORA = require_corpora()

EMAILS = sorted((CORPORA / "emails").rglob("*.eml"))
PDFS = sorted(p for p in (CORPORA / "pdfs").rglob("*") if p.is_file())


def services(tmp_path: Path, database_url: str) -> Services:
    return pipeline_services(make_engine(database_url), tmp_path / "outbox")


def deliver(maildir: Path, messages: list[bytes]) -> None:
    (maildir / "new").mkdir(parents=True)
    for i, raw in enumerate(messages):
        (maildir / "new" / f"{i:05d}.corpus").write_bytes(raw)


def outcomes(service: Services) -> Counter[str]:
    with Session(service.engine) as session:
        return Counter(row.outcome or row.state for row in session.exec(select(MessageRecord)).all())


def test_every_corpus_email_is_decided_and_filed_and_none_crashes_the_pipeline(
    tmp_path: Path, database_url: str
) -> None:
    service = services(tmp_path, database_url)
    mailbox = MaildirMailbox(tmp_path / "mailbox")
    deliver(tmp_path / "mailbox", [path.read_bytes() for path in EMAILS])

    take_new_mail(mailbox, service)
    report = send_outbox(service)

    decided = outcomes(service)
    assert sum(decided.values()) == len(EMAILS)
    assert decided["quarantined"] == 0, decided
    assert not list((tmp_path / "mailbox" / "new").iterdir())
    assert (report.deferred, report.failed) == (0, 0)
    with Session(service.engine) as session:
        replied = session.exec(select(MessageRecord).join(OutboxRecord)).all()
        suppressed = session.exec(select(AuditEvent).where(AuditEvent.event == "reply_suppressed")).all()
        # An email whose own reading needs more memory than a worker's cap (flanker's 200 KB header is close to
        # it, and where it falls depends on the machine) answers nobody: the team has a task to check it.
        unread = session.exec(select(TaskRecord).where(TaskRecord.kind == "message_too_large_to_read")).all()
    # Most of this corpus is bounces, lists and people's mail with no forms: nobody is written to about it,
    # except a sender whose unreadable PDF will be checked by hand, and never a machine.
    assert report.sent == len(replied)
    assert {row.outcome for row in replied} <= {"review"}
    assert decided["review"] == len(replied) + len(suppressed) + len(unread)
    assert decided["automatic"] >= 40


def test_every_corpus_pdf_attached_to_an_email_gets_a_clear_outcome(tmp_path: Path, database_url: str) -> None:
    service = services(tmp_path, database_url)
    mailbox = MaildirMailbox(tmp_path / "mailbox")
    messages = []
    for i, path in enumerate(PDFS):
        message = EmailMessage()
        message["From"] = "pharmacy.fake@nhs.net"
        message["To"] = "agem.norfolkmedicineservices@nhs.net"
        message["Subject"] = "Referral"
        message["Message-ID"] = f"<corpus-pdf-{i}@example.nhs.net>"
        message.set_content("Please find attached.")
        message.add_attachment(path.read_bytes(), maintype="application", subtype="pdf", filename="form.pdf")
        messages.append(message.as_bytes())
    deliver(tmp_path / "mailbox", messages)

    take_new_mail(mailbox, service)

    decided = outcomes(service)
    assert sum(decided.values()) == len(PDFS)
    assert decided["quarantined"] == 0, decided
    assert set(decided) <= {"not_a_submission", "review", "duplicate"}, decided
