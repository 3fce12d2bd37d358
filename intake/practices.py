"""The service's list of GP practices, loaded from NHS England's ODS ``epraccur`` file, and what the rules read.

epraccur is a headerless CSV of every GP practice in England, 27 columns; the service reads column 1
(organisation code), 2 (name), 13 (status code: A active, C closed, D dormant, P proposed) and 15
(commissioner: the sub-ICB location code, e.g. 26A for Norfolk & Waveney). An import replaces the whole list
with the practices of the given commissioners, in one unit of work.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from intake.errors import IntakeError
from intake.store import Practice
from intake.unit_of_work import UnitOfWork

EPRACCUR_COLUMNS = 27
CODE, NAME, STATUS, COMMISSIONER = 0, 1, 12, 14
STATUSES = frozenset({"A", "C", "D", "P"})
_PRACTICE_CODE = re.compile(r"^[A-Z][0-9]{5}$")


class PracticeFileError(IntakeError):
    """Raised when a file is not in the epraccur format; the message names the line, never a value."""


@dataclass(frozen=True)
class PracticeRow:
    """One practice as epraccur lists it (the columns the service keeps)."""

    code: str
    name: str
    status: str
    commissioner: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did: practices kept per status code, and rows for other commissioners left out."""

    kept: Counter[str]
    other_commissioners: int

    @property
    def total(self) -> int:
        return sum(self.kept.values())


def read_epraccur(text: str) -> Iterator[PracticeRow]:
    """Each row of an epraccur file, checked: 27 columns, a practice code, a known status code."""
    reader = csv.reader(io.StringIO(text))
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over the csv module's limit, a stray quote: not the format, not a crash
            raise PracticeFileError(f"line {reader.line_num}: not a CSV line ({exc})") from exc
        number += 1
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != EPRACCUR_COLUMNS:
            raise PracticeFileError(f"line {number}: {len(row)} columns, epraccur has {EPRACCUR_COLUMNS}")
        code = row[CODE].strip().upper()
        status = row[STATUS].strip().upper()
        if not _PRACTICE_CODE.match(code):
            raise PracticeFileError(f"line {number}: column 1 is not a GP practice code (letter and 5 digits)")
        if status not in STATUSES:
            raise PracticeFileError(f"line {number}: column 13 is not a status code (A, C, D or P)")
        yield PracticeRow(code=code, name=row[NAME].strip(), status=status, commissioner=row[COMMISSIONER].strip())


def decode_epraccur(data: bytes) -> str:
    """The text of an epraccur file: UTF-8 (with or without a byte-order mark), else Windows-1252, as NHS
    England has published it in both.

    Raises:
        PracticeFileError: the bytes are neither (a spreadsheet or a zip file uploaded by mistake).
    """
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise PracticeFileError("the file is not a CSV text file (save the epraccur file as CSV, not as a spreadsheet)")


def import_practices(
    uow: UnitOfWork, path: Path, commissioners: Iterable[str], now: dt.datetime, *, by: str = "command line"
) -> ImportReport:
    """Replace the practice list with the practices in ``path`` (epraccur) whose commissioner is one given.

    Raises:
        PracticeFileError: as ``import_practice_list``.
    """
    return import_practice_list(uow, path.read_bytes(), commissioners, now, by=by)


def import_practice_list(
    uow: UnitOfWork, data: bytes, commissioners: Iterable[str], now: dt.datetime, *, by: str
) -> ImportReport:
    """Replace the practice list with the practices in ``data`` (an epraccur file) whose commissioner is one
    given; ``by`` (who asked) goes into the audit trail with the counts.

    Commits ``uow`` once the whole file has been read: a file with a bad line changes nothing.

    Raises:
        PracticeFileError: the file is not in the epraccur format, or no practice in it has a code given.
    """
    wanted = {c.strip().upper() for c in commissioners if c.strip()}
    if not wanted:
        raise PracticeFileError("no commissioner code given")
    kept: dict[str, PracticeRow] = {}
    others = 0
    for row in read_epraccur(decode_epraccur(data)):
        if row.commissioner.upper() in wanted:
            kept[row.code] = row
        else:
            others += 1
    if not kept:
        raise PracticeFileError("no practice in the file has one of the commissioner codes given")
    uow.practices.replace(
        Practice(
            code=row.code, name=row.name, commissioner=row.commissioner.upper(), status=row.status, imported_at=now
        )
        for row in kept.values()
    )
    report = ImportReport(kept=Counter(row.status for row in kept.values()), other_commissioners=others)
    uow.audit.record(
        "practices_imported", at=now, by=by, commissioners=sorted(wanted), kept=report.total, left_out=others
    )
    uow.commit()
    return report
