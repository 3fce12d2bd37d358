"""Hostile and broken files through the real pipeline: each gets a clear outcome and the next message is taken.

Every file is built here, at test time. Parsing, and opening Outlook containers, runs in worker processes with
a 3 s time limit (1 s where only time is tested) and a 256 MB memory cap, not the defaults' 30 s and 512 MB.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlmodel import Session, select

from config.forms import load_form_definitions
from config.settings import LimitSettings
from intake.isolation import ParsePool, shutdown_default_pool
from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Services, send_outbox, take_new_mail
from intake.store import FormRecord, MessageRecord, OutboxRecord, make_engine
from parsers.mail import Attachment, read_mail
from parsers.pictures import MAX_PIXELS
from parsers.types import PagePicture, Unreadable
from samples.emails import referral_email
from samples.scenarios import accepted
from tests.services import pipeline_services
from tests.unit.test_containers import endless_properties, winmail

LONDON = ZoneInfo("Europe/London")
TODAY = dt.datetime.now(LONDON).date()
MiB = 1024 * 1024
LIMITS = LimitSettings(
    max_message_bytes=80 * MiB,  # lets the 50 MB attachment reach the attachment limit
    # Long enough that only the slow file runs out of time on a busy machine.
    parse_timeout_seconds=3,
    parse_memory_mb=256,
)


# -- building PDFs by hand ----------------------------------------------------------------------------------


def pdf(*objects: bytes) -> bytes:
    """A PDF with a correct cross-reference table; object 1 is the catalog."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%b\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def one_page(content: bytes) -> bytes:
    """One page whose content stream (Flate-compressed) is ``content``."""
    return pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%b\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )


def letter() -> bytes:
    return one_page(zlib.compress(b"BT /F1 12 Tf 72 720 Td (Dear colleague, please see the referral.) Tj ET"))


def encrypted(data: bytes, *, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_bomb(pages: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (number + 3) for number in range(pages))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%b] /Count %d >>" % (kids, pages),
        *[page] * pages,
    )


def deeply_nested(depth: int) -> bytes:
    return pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots 4 0 R >>",
        b"[" * depth + b"]" * depth,
    )


def memory_bomb(megabytes: int) -> bytes:
    """A 1 MB file whose page content inflates to ``megabytes`` of spaces."""
    packer = zlib.compressobj(1)
    chunk = b" " * MiB
    content = packer.compress(b"BT /F1 12 Tf 72 720 Td (Hi) Tj ET\n")
    content += b"".join(packer.compress(chunk) for _ in range(megabytes)) + packer.flush()
    return one_page(content)


def slow() -> bytes:
    """A few kilobytes that take pdfminer some ten seconds: half a million text operators on page 1."""
    return one_page(zlib.compress(b"BT /F1 1 Tf " + b"(a) Tj 0 1 Td " * 500_000 + b"ET"))


def nested_forms(depth: int = 16, fanout: int = 4, subtype: bytes = b"/Form") -> bytes:
    """The attack: under 4 KB of form XObjects, each drawing the next ``fanout`` times, ``depth`` levels deep.

    Every draw is interpreted anew, so the page costs ``fanout ** depth`` draws: at these defaults about a
    billion, far past any time limit, while the worker's memory stays flat.
    """
    first = 5
    forms = []
    for level in range(depth):
        deepest = level == depth - 1
        body = b"0 0 1 1 re n" if deepest else b"q /X Do Q " * fanout
        resources = b"" if deepest else b"/XObject << /X %d 0 R >>" % (first + level + 1)
        forms.append(
            b"<< /Type /XObject /Subtype %b /BBox [0 0 595 842] /Resources << %b >> /Length %d >>\n"
            b"stream\n%b\nendstream" % (subtype, resources, len(body), body)
        )
    return pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /XObject << /X %d 0 R >> >> >>" % first,
        b"<< /Length 5 >>\nstream\n/X Do\nendstream",
        *forms,
    )


def good_referral(seed: int) -> list[tuple[str, bytes]]:
    return [(a.filename, a.data) for a in read_mail(accepted(TODAY, seed=seed).raw).attachments]


# -- the run ------------------------------------------------------------------------------------------------

Files = Callable[[], list[tuple[str, bytes]]]

CASES: dict[str, tuple[Files, str, str | None]] = {
    "truncated": (lambda: [("Form 2.pdf", letter()[:300])], "review", "corrupt"),
    "user-password": (lambda: [("Form 2.pdf", encrypted(letter(), user_password="secret"))], "review", "encrypted"),
    "owner-password-only": (
        lambda: [(name, encrypted(data, user_password="")) for name, data in good_referral(seed=3)],
        "accepted",
        None,
    ),
    "page-bomb": (lambda: [("referral.pdf", page_bomb(5000))], "not_a_submission", "unrecognised"),
    "deeply-nested": (lambda: [("referral.pdf", deeply_nested(100_000))], "not_a_submission", "unrecognised"),
    "zero-bytes": (lambda: [("Form 2.pdf", b"")], "review", "corrupt"),
    "not-a-pdf": (lambda: [("Form 2.pdf", b"\x89PNG\r\n\x1a\n" + bytes(2000))], "not_a_submission", "unrecognised"),
    "memory-bomb": (lambda: [("Form 2.pdf", memory_bomb(300))], "review", "too_large"),
    "slow": (lambda: [("Form 2.pdf", slow())], "review", "timeout"),
    "fifty-megabytes": (list, "review", "too_large"),  # built by hand below: the stdlib takes seconds
    "broken-winmail": (lambda: [("winmail.dat", winmail(("Form 2.pdf", letter()))[:-20])], "review", "corrupt"),
    "endless-winmail": (lambda: [("winmail.dat", endless_properties())], "review", "timeout"),
    "referral-in-a-winmail": (lambda: [("winmail.dat", winmail(*good_referral(seed=5)))], "accepted", None),
    "the-next-referral": (lambda: good_referral(seed=4), "accepted", None),
}
"""Message name -> (its attachments, the expected outcome, the problem recorded for the hostile file)."""


def fifty_megabyte_email(sender: str, message_id: str) -> bytes:
    body = base64.encodebytes(b"%PDF-1.7\n" + bytes(50 * MiB))
    return (
        (
            f"From: {sender}\r\nTo: agem.norfolkmedicineservices@nhs.net\r\nSubject: Referral\r\n"
            f"Date: Mon, 05 Jan 2026 10:00:00 +0000\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n'
            '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="Form 2.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + body
        + b"--b--\r\n"
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, dict[str, MessageRecord]]]:
    root = tmp_path_factory.mktemp("hostile")
    services = pipeline_services(
        make_engine(f"sqlite:///{root}/nmss.db"), root / "outbox", limits=LIMITS, timezone=LONDON
    )
    (root / "mailbox" / "new").mkdir(parents=True)
    sent_at = dt.datetime.combine(TODAY, dt.time(10), tzinfo=LONDON)
    for number, (name, (files, _, _)) in enumerate(CASES.items()):
        sender, message_id = f"{name}@nhs.net", f"<{name}@nhs.net>"  # one sender each: replies are rate-limited
        if name == "fifty-megabytes":
            raw = fifty_megabyte_email(sender, message_id)
        else:
            raw = referral_email(
                attachments=files(), sender=sender, subject="Referral", date=sent_at, message_id=message_id
            )
        Path(root / "mailbox" / "new" / f"{number:03d}.{name}").write_bytes(raw)

    take_new_mail(MaildirMailbox(root / "mailbox"), services)
    send_outbox(services)

    with Session(services.engine) as session:
        rows = {row.message_id or "": row for row in session.exec(select(MessageRecord)).all()}
    yield services, {message_id.partition("@")[0]: row for message_id, row in rows.items()}
    shutdown_default_pool()
    services.engine.dispose()


@pytest.mark.parametrize("name", list(CASES))
def test_each_hostile_file_gets_a_clear_outcome_and_the_pipeline_carries_on(
    run: tuple[Services, dict[str, MessageRecord]], name: str
) -> None:
    services, rows = run
    _, outcome, problem = CASES[name]

    row = rows[name]
    assert (row.state, row.outcome) == ("filed", outcome)
    with Session(services.engine) as session:
        problems = [f.problem for f in session.exec(select(FormRecord).where(FormRecord.message_id == row.id))]
    if problem is not None:
        assert problem in problems
    else:
        assert set(problems) == {None}


@pytest.mark.parametrize("name", [n for n, (_, outcome, _) in CASES.items() if outcome == "review"])
def test_the_sender_of_an_unreadable_file_is_told_it_will_be_checked_by_hand(
    run: tuple[Services, dict[str, MessageRecord]], name: str
) -> None:
    services, rows = run

    with Session(services.engine) as session:
        replies = session.exec(select(OutboxRecord).where(OutboxRecord.message_id == rows[name].id)).all()

    assert [(r.kind, r.state) for r in replies] == [("reply_unreadable", "sent")]


def test_a_worker_that_ran_out_of_time_is_replaced_and_the_next_file_is_read_at_once() -> None:
    definitions = load_form_definitions()
    with ParsePool(timeout_seconds=1, memory_mb=256) as pool:
        first = pool.parse(slow(), "slow.pdf", definitions, today=TODAY)
        second = pool.parse(letter(), "letter.pdf", definitions, today=TODAY)

    assert (first.readable, getattr(first, "problem", None)) == (False, "timeout")
    assert getattr(second, "problem", None) == "unrecognised"


def test_documents_of_one_message_are_parsed_side_by_side_by_several_workers_and_come_back_in_order() -> None:
    # The 1 s is each document's own: a fresh worker's start-up, seconds on a busy machine, is not counted.
    definitions = load_form_definitions()
    files = [("slow.pdf", slow()), ("zero.pdf", b""), ("letter.pdf", letter())]
    with ParsePool(timeout_seconds=1, memory_mb=256, workers=3) as pool:
        documents = pool.parse_all([(data, name) for name, data in files], definitions, today=TODAY)

    assert [(d.filename, getattr(d, "problem", None)) for d in documents] == [
        ("slow.pdf", "timeout"),
        ("zero.pdf", "corrupt"),
        ("letter.pdf", "unrecognised"),
    ]


def test_at_the_message_deadline_the_document_at_work_is_stopped_and_those_not_started_are_timeout() -> None:
    definitions = load_form_definitions()
    files = [(letter(), "letter.pdf"), (nested_forms(), "attack.pdf"), (letter(), "late.pdf")]
    with ParsePool(timeout_seconds=600, memory_mb=256) as pool:
        pool.parse(letter(), "warm-up.pdf", definitions, today=TODAY)  # the worker's start-up is behind us
        documents = pool.parse_all(files, definitions, today=TODAY, deadline=time.monotonic() + 3)

    # The letter after the attack takes a worker milliseconds: "timeout" means it was never parsed.
    assert [(d.filename, getattr(d, "problem", None)) for d in documents] == [
        ("letter.pdf", "unrecognised"),
        ("attack.pdf", "timeout"),
        ("late.pdf", "timeout"),
    ]


def test_a_page_of_forms_drawing_forms_runs_out_of_time_however_form_is_spelt() -> None:
    """PDFium builds every object of a page before any is read: forms drawing forms would take it past the
    worker's memory cap, so such a page is left to pdfminer, which runs out of time instead (the team gets the
    file either way), with ``/Form`` written out or spelt with ``#`` escapes."""
    definitions = load_form_definitions()
    with ParsePool(timeout_seconds=1, memory_mb=256) as pool:
        documents = [
            pool.parse(nested_forms(subtype=subtype), "attack.pdf", definitions, today=TODAY)
            for subtype in (b"/Form", b"/F#6Frm")
        ]
        after = pool.parse(letter(), "letter.pdf", definitions, today=TODAY)

    assert [getattr(d, "problem", None) for d in documents] == ["timeout", "timeout"]
    assert getattr(after, "problem", None) == "unrecognised"


def test_a_worker_stuck_opening_a_container_is_replaced_and_the_next_container_is_opened() -> None:
    stuck = Attachment("winmail.dat", "application/ms-tnef", endless_properties())
    forms = Attachment("winmail.dat", "application/ms-tnef", winmail(("Form 2.pdf", letter())))

    with ParsePool(timeout_seconds=1, memory_mb=256) as pool:
        first, second = pool.open_all([stuck, forms], max_bytes=MiB)

    assert first == Unreadable("winmail.dat", "timeout")
    assert isinstance(second, tuple)
    assert [(a.filename, a.data) for a in second] == [("Form 2.pdf", letter())]


def stalling_header(size: int = 1024 * 1024) -> bytes:
    """An email with ``size`` bytes of ``a=b;`` parameters in its ``Content-Type``: minutes for the email package."""
    return (
        b"From: someone@example.org\r\nTo: nmss@nhs.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; " + b"a=b;" * (size // 4) + b"\r\n\r\nhello\r\n"
    )


def test_a_worker_stuck_reading_a_message_is_replaced_and_the_next_message_is_read() -> None:
    ordinary = referral_email(
        attachments=[("Form 2.pdf", letter())],
        sender="Pharmacy@NHS.net",
        subject="Referral",
        date=dt.datetime.combine(TODAY, dt.time(10), tzinfo=LONDON),
    )

    with ParsePool(timeout_seconds=1, memory_mb=256) as pool:
        first = pool.read(stalling_header(), max_attachment_bytes=MiB)
        second = pool.read(ordinary, max_attachment_bytes=MiB)

    assert first == Unreadable("", "timeout")
    assert second == read_mail(ordinary, max_attachment_bytes=MiB)
    assert (second.sender, [a.filename for a in second.attachments]) == ("pharmacy@nhs.net", ["Form 2.pdf"])


def test_reading_a_message_is_stopped_at_the_message_deadline() -> None:
    with ParsePool(timeout_seconds=600, memory_mb=256) as pool:
        pool.read(b"From: warm-up@nhs.net\r\n\r\nhello\r\n", max_attachment_bytes=MiB)  # start-up behind us
        read = pool.read(stalling_header(), max_attachment_bytes=MiB, deadline=time.monotonic() + 2)

    assert read == Unreadable("", "timeout")


def test_a_message_too_big_to_read_under_the_memory_cap_is_read_for_its_headers() -> None:
    with ParsePool(timeout_seconds=60, memory_mb=256) as pool:
        read = pool.read(fifty_megabyte_email("big@nhs.net", "<big@nhs.net>"), max_attachment_bytes=80 * MiB)

    assert not isinstance(read, Unreadable)
    assert (read.sender, read.message_id) == ("big@nhs.net", "big@nhs.net")
    assert read.attachments == (Attachment("message-body", "", b"", skipped="too_large"),)


def test_drawing_a_page_that_never_ends_is_stopped_and_the_next_page_is_drawn() -> None:
    """pdfium is a hostile file's decoder too: a page that would take hours to draw comes back "timeout", or
    "too_large" when pdfium's caches reach the memory cap first, and the worker that drew it is replaced, so the
    next picture is drawn as usual."""
    with ParsePool(timeout_seconds=1, memory_mb=256) as pool:
        pool.render(letter(), 1)  # the worker's start-up is behind us
        stuck = pool.render(nested_forms(), 1)
        drawn = pool.render(letter(), 1)
    assert isinstance(stuck, Unreadable)
    assert stuck.problem in ("timeout", "too_large")
    assert isinstance(drawn, PagePicture)
    assert drawn.png.startswith(b"\x89PNG")


def test_a_page_that_cannot_be_drawn_says_why_and_a_huge_one_is_drawn_smaller() -> None:
    huge = pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>",  # 200 inches a side: the largest PDF allows
    )
    with ParsePool(timeout_seconds=30, memory_mb=256) as pool:
        assert pool.render(encrypted(letter(), user_password="secret"), 1) == Unreadable("", "encrypted")
        assert pool.render(b"%PDF-1.7\nnothing else", 1) == Unreadable("", "corrupt")
        assert pool.render(letter(), 2) == Unreadable("", "unrecognised")
        picture = pool.render(huge, 1)
    assert isinstance(picture, PagePicture)
    assert picture.width * picture.height <= MAX_PIXELS
