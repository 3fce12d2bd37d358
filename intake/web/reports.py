"""The reports page, for the team: three charts drawn on the server, each with its figures in a table right
below it and as a CSV download. Counts, medians and dates only: nothing about any patient.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from intake.accounts import Account
from intake.bootstrap import today
from intake.views import Reports, reports
from intake.web.auth import Endpoint, page, service_of
from intake.web.charts import COLOURS, Chart, Series, bar_chart
from intake.web.render import render
from rules.reports import OUTCOME_NAMES, REPORTED_OUTCOMES

OUTCOME_SERIES = tuple(
    Series(OUTCOME_NAMES[outcome], COLOURS[colour])
    for outcome, colour in zip(REPORTED_OUTCOMES, ("green", "purple", "yellow", "red", "blue"), strict=True)
)
WAIT_SERIES = (Series("Median", COLOURS["blue"]), Series("90th percentile", COLOURS["dark-blue"]))
CALL_SERIES = (
    Series("Made on time", COLOURS["green"]),
    Series("Made late", COLOURS["yellow"]),
    Series("Not made yet", COLOURS["red"]),
)


def _read(request: Request) -> Reports:
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        return reports(uow, today(app), app.services.timezone)


def week_label(week: object) -> str:
    return f"{week:%-d %b}"


def referral_rows(report: Reports) -> list[list[str]]:
    """Submissions per week by outcome: the table's and the CSV's rows, after their heading row."""
    return [
        [f"{row.week:%Y-%m-%d}", *(str(row.counts[o]) for o in REPORTED_OUTCOMES), str(row.total)]
        for row in report.referrals
    ]


def wait_rows(report: Reports) -> list[list[str]]:
    """Working days from arrival to assessment per week, then over all the weeks."""
    return [
        [
            f"{row.week:%Y-%m-%d}" if row.week else "All 12 weeks",
            str(row.assessments),
            _days(row.median),
            _days(row.p90),
        ]
        for row in report.waits
    ]


def call_rows(report: Reports) -> list[list[str]]:
    """Follow-up calls due in the weeks, per stage, by whether they were made on time."""
    return [
        [
            row.label,
            str(row.due),
            str(row.on_time),
            str(row.late),
            str(row.not_made),
            f"{row.percent_on_time}%" if row.percent_on_time is not None else "",
        ]
        for row in report.calls
    ]


REFERRAL_HEADINGS = ["Week beginning", *(OUTCOME_NAMES[o] for o in REPORTED_OUTCOMES), "Total"]
WAIT_HEADINGS = ["Week beginning", "Referrals assessed", "Median working days", "90th percentile working days"]
CALL_HEADINGS = ["Follow-up call", "Calls due", "Made on time", "Made late", "Not made yet", "Made on time (%)"]


def charts(report: Reports) -> dict[str, Chart]:
    weeks = [week_label(week) for week in report.weeks]
    return {
        "referrals": bar_chart(
            weeks,
            OUTCOME_SERIES,
            [[row.counts[o] for o in REPORTED_OUTCOMES] for row in report.referrals],
            stacked=True,
        ),
        "waits": bar_chart(
            weeks, WAIT_SERIES, [[row.median or 0, row.p90 or 0] for row in report.waits[:-1]], stacked=False
        ),
        "calls": bar_chart(
            [row.label for row in report.calls],
            CALL_SERIES,
            [[row.on_time, row.late, row.not_made] for row in report.calls],
            stacked=True,
        ),
    }


@page()
def reports_page(request: Request, _account: Account, _form: FormData | None) -> Response:
    """The team's reports over the last 12 weeks."""
    report = _read(request)
    return render(
        request,
        "reports.jinja",
        report=report,
        charts=charts(report),
        tables={
            "referrals": (REFERRAL_HEADINGS, _readable_weeks(referral_rows(report))),
            "waits": (WAIT_HEADINGS, _readable_weeks(wait_rows(report))),
            "calls": (CALL_HEADINGS, call_rows(report)),
        },
    )


def _csv_endpoint(name: str, headings: Sequence[str], rows: Callable[[Reports], list[list[str]]]) -> Endpoint:
    """An endpoint that downloads one report's table as CSV (counts and dates only)."""

    def download(request: Request, _account: Account, _form: FormData | None) -> Response:
        report = _read(request)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headings)
        writer.writerows(rows(report))
        filename = f"nmss-{name}-{report.weeks[-1]:%Y-%m-%d}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    download.__name__ = download.__qualname__ = f"{name.replace('-', '_')}_csv"
    return page()(download)


referrals_csv = _csv_endpoint("referrals-per-week", REFERRAL_HEADINGS, referral_rows)
waits_csv = _csv_endpoint("days-to-assessment", WAIT_HEADINGS, wait_rows)
calls_csv = _csv_endpoint("calls-on-time", CALL_HEADINGS, call_rows)


def _readable_weeks(rows: list[list[str]]) -> list[list[str]]:
    """The rows with their week as people read it on the page (``14 Sep 2026``); the CSV keeps ISO dates."""
    return [[_week_text(row[0]), *row[1:]] for row in rows]


def _week_text(cell: str) -> str:
    try:
        day = dt.date.fromisoformat(cell)
    except ValueError:
        return cell
    return f"{day.day} {day:%b %Y}"


def _days(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else f"{value:.1f}"
