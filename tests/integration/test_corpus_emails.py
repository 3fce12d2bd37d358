"""The 200 real-world emails in the shared corpus: read_mail and automatic_reason survive every one of them.

The corpus is third-party material kept outside the repository (see its README); set ``NMSS_CORPUS_DIR`` to
point elsewhere. Files are read in place and never copied into the repository.
"""

from __future__ import annotations

import csv
import unicodedata

import pytest

from config.settings import ServiceSettings
from parsers.mail import Mail, read_mail
from rules.automatic import automatic_reason
from tests.corpora import require_corpora

CORPUS = require_corpora()

SERVICE = ServiceSettings()
AUTOMATIC_TAGS = frozenset({"dsn", "bounce", "autoreply", "auto-submitted"})

NOT_DETECTABLE = {
    # An Apple iCloud vacation reply that carries none of the RFC 3834 signals domain-notes.md lists: no
    # Auto-Submitted, no Precedence, an ordinary Return-Path and From, text/plain. Only the vendor header
    # "X-Apple-Action: VACATION" and an "Auto reply:" subject give it away; matching subjects would silence
    # people, so it is read as a person's mail. Our own reply carries Auto-Submitted, so a compliant responder
    # does not answer it, and the per-sender rate limit bounds any loop.
    "emails/sisimai-set-of-emails/rfc3834-03.eml": "vendor-only vacation reply",
}
"""Files tagged as automatic that the rules cannot tell from a person's mail, with the reason."""


def _index() -> dict[str, set[str]]:
    with (CORPUS / "index.tsv").open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {row["path"]: set(filter(None, row["tags"].split(","))) for row in rows if row["kind"] == "email"}


TAGS = _index()
FILES = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "emails").rglob("*") if p.is_file())


def _read(relative: str) -> Mail:
    return read_mail((CORPUS / relative).read_bytes())


def _reason(mail: Mail) -> str | None:
    return automatic_reason(mail, SERVICE.addresses, SERVICE.domain)


def test_the_corpus_is_the_one_described_in_its_index() -> None:
    """Every email file is in the index, so the tag-driven tests below cover what is on disk."""
    assert len(FILES) == 200
    assert set(FILES) == set(TAGS)


@pytest.mark.parametrize("relative", FILES)
def test_every_email_is_read_without_raising(relative: str) -> None:
    """read_mail and automatic_reason return for every file, and attachment names are safe to show and save."""
    mail = _read(relative)
    _reason(mail)
    for attachment in mail.attachments:
        name = attachment.filename
        assert name
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert not any(unicodedata.category(ch).startswith("C") for ch in name)
        assert len(name.encode()) <= 150


@pytest.mark.parametrize("relative", sorted(f for f in FILES if TAGS[f] & AUTOMATIC_TAGS))
def test_bounces_and_auto_replies_are_recognised_as_automatic(relative: str) -> None:
    """Delivery reports, bounces and out-of-office replies get no automatic reply, except the listed few."""
    reason = _reason(_read(relative))
    if relative in NOT_DETECTABLE:
        assert reason is None, f"now detected as {reason}: remove it from NOT_DETECTABLE"
    else:
        assert reason is not None


@pytest.mark.parametrize("relative", sorted(f for f in FILES if "pdf-attachment" in TAGS[f]))
def test_emails_with_a_pdf_yield_at_least_one_pdf_attachment(relative: str) -> None:
    """A PDF however it is attached (octet-stream, forwarded, encoded name, broken payload) comes back."""
    assert any(a.kind == "pdf" for a in _read(relative).attachments)
