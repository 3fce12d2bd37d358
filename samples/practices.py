"""An invented practice list in NHS England's ODS ``epraccur`` format, for the demo and the tests.

epraccur is a headerless CSV of 27 columns: 1 organisation code, 2 name, 3 national grouping, 4 high-level
health geography, 5-9 address lines, 10 postcode, 11 open date, 12 close date, 13 status code (A, C, D, P),
14 organisation sub-type, 15 commissioner (sub-ICB location code), 16 join provider date, 17 left provider
date, 18 telephone, 19-27 null or amended-record columns. Only the sample practices (D99001-D99008 in Norfolk
& Waveney, 26A; Y99901 elsewhere) and a closed one appear: every name is invented.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from samples.people import GP_PRACTICES, OUT_OF_AREA_PRACTICE, GPPractice

NORFOLK = "26A"
ELSEWHERE = "06L"
CLOSED_NORFOLK = GPPractice("Old Mill Surgery (closed, invented)", "D99009")


def epraccur_row(practice: GPPractice, commissioner: str, *, status: str = "A") -> list[str]:
    """One practice as a 27-column epraccur row."""
    row = [""] * 27
    row[0], row[1] = practice.ods_code, practice.name.upper()
    row[2], row[3] = "Y61", "QMM"
    row[4:9] = ["1 EXAMPLE ROAD", "", "NORWICH", "NORFOLK", ""]
    row[9] = "NR1 3QS"
    row[10], row[11] = "19740401", "20200331" if status == "C" else ""
    row[12], row[13], row[14] = status, "B", commissioner
    row[15], row[17] = "20130401", "01632 960000"
    row[18] = "4"
    return row


def epraccur_csv(rows: Iterable[list[str]] | None = None) -> str:
    """The sample practices as an epraccur file: the Norfolk ones, one closed, one out of area."""
    if rows is None:
        rows = [
            *(epraccur_row(p, NORFOLK) for p in GP_PRACTICES),
            epraccur_row(CLOSED_NORFOLK, NORFOLK, status="C"),
            epraccur_row(OUT_OF_AREA_PRACTICE, ELSEWHERE),
        ]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return out.getvalue()
