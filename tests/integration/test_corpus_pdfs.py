"""Every PDF of the shared third-party corpus goes through the parser without raising.

The corpus (../shared/corpora beside the repository; see its README.md and index.tsv) is held-out
material from the test suites of PDF libraries: encrypted, corrupt, scanned, fillable and very long
files. It is read where it lies and never copied into the repository.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.forms import FormDefinitions, load_form_definitions
from parsers import Form, Unreadable, parse_document
from tests.corpora import require_corpora

CORPORA = require_corpora()
INDEX = CORPORA / "index.tsv"
TODAY = dt.date(2025, 6, 15)


@dataclass(frozen=True)
class CorpusPdf:
    path: Path
    tags: frozenset[str]

    @property
    def id(self) -> str:
        return str(self.path.relative_to(CORPORA / "pdfs"))


def _corpus() -> list[CorpusPdf]:
    rows = [line.split("\t") for line in INDEX.read_text(encoding="utf-8").splitlines()]
    header = rows[0]
    path_at, kind_at, tags_at = header.index("path"), header.index("kind"), header.index("tags")
    return [
        CorpusPdf(CORPORA / row[path_at], frozenset(filter(None, row[tags_at].split(","))))
        for row in rows[1:]
        if len(row) > tags_at and row[kind_at] == "pdf"
    ]


PDFS = _corpus()


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def _parse(pdf: CorpusPdf, definitions: FormDefinitions) -> Form | Unreadable:
    return parse_document(pdf.path.read_bytes(), pdf.path.name, definitions, today=TODAY)


def test_the_corpus_index_lists_pdfs_that_exist() -> None:
    assert PDFS
    assert all(pdf.path.is_file() for pdf in PDFS)


@pytest.mark.parametrize("pdf", PDFS, ids=lambda p: p.id)
def test_every_corpus_pdf_gives_a_document_without_raising(pdf: CorpusPdf, definitions: FormDefinitions) -> None:
    document = _parse(pdf, definitions)
    assert isinstance(document, Form | Unreadable)
    assert document.filename == pdf.path.name


@pytest.mark.parametrize("pdf", [p for p in PDFS if "password-required" in p.tags], ids=lambda p: p.id)
def test_a_pdf_that_needs_a_password_is_encrypted(pdf: CorpusPdf, definitions: FormDefinitions) -> None:
    document = _parse(pdf, definitions)
    assert isinstance(document, Unreadable)
    assert document.problem == "encrypted"


@pytest.mark.parametrize("pdf", [p for p in PDFS if "scanned" in p.tags], ids=lambda p: p.id)
def test_a_scanned_pdf_is_scanned_or_unrecognised(pdf: CorpusPdf, definitions: FormDefinitions) -> None:
    document = _parse(pdf, definitions)
    assert isinstance(document, Unreadable)
    assert document.problem in ("scanned", "unrecognised")


@pytest.mark.parametrize(
    "pdf", [p for p in PDFS if "opens-with-empty-password" in p.tags and "corrupt" not in p.tags], ids=lambda p: p.id
)
def test_a_pdf_protected_only_by_an_owner_password_is_not_called_encrypted(
    pdf: CorpusPdf, definitions: FormDefinitions
) -> None:
    document = _parse(pdf, definitions)
    assert not (isinstance(document, Unreadable) and document.problem == "encrypted")


@pytest.mark.parametrize("pdf", [p for p in PDFS if "empty-file" in p.tags], ids=lambda p: p.id)
def test_an_empty_file_is_corrupt(pdf: CorpusPdf, definitions: FormDefinitions) -> None:
    assert _parse(pdf, definitions) == Unreadable(pdf.path.name, "corrupt")


def test_none_of_the_third_party_pdfs_is_taken_for_one_of_our_forms(definitions: FormDefinitions) -> None:
    # Their titles, field names and file names are nobody's NMSS forms; a Form here would be a false match.
    forms = [pdf.id for pdf in PDFS if isinstance(_parse(pdf, definitions), Form)]
    assert forms == []
