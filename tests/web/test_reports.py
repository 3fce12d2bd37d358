"""The reports page through HTTP: the team's figures as charts, tables and CSV downloads, and nothing about
any patient in them."""

from __future__ import annotations

import csv
import io
import re

from samples.scenarios import all_scenarios
from tests.e2e.conftest import patient_values, today
from tests.web.conftest import Workspace, csrf_of
from tests.web.test_governance import first_reference

DOWNLOADS = ("/reports/referrals.csv", "/reports/days-to-assessment.csv", "/reports/calls.csv")


def table_rows(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with ``caption``, each cell's text."""
    table = html[html.index(caption) :]
    table = table[: table.index("</table>")]
    body = table[table.index("<tbody") :]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def download(workspace: Workspace, path: str) -> list[list[str]]:
    response = workspace.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="nmss-')
    return list(csv.reader(io.StringIO(response.text)))


def assess_today(workspace: Workspace, reference: str) -> None:
    today = workspace.clock.now.date()
    response = workspace.client.post(
        f"/referrals/{reference}/assessment",
        data={
            "assessed[day]": str(today.day),
            "assessed[month]": str(today.month),
            "assessed[year]": str(today.year),
            "csrf_token": csrf_of(workspace.client.get("/").text),
        },
    )
    assert response.status_code == 303


def test_this_weeks_referrals_are_counted_by_outcome_in_the_chart_the_table_and_the_csv(workspace: Workspace) -> None:
    workspace.sign_in()

    page = workspace.client.get("/reports")

    assert page.status_code == 200
    assert "<title>Reports – NMSS workspace</title>" in page.text
    assert page.text.count('<svg role="img"') == 3
    assert "style=" not in page.text  # the Content-Security-Policy would refuse inline styles
    rows = table_rows(page.text, "Referrals per week, by outcome</caption>")
    assert len(rows) == 12
    headings = ["Week beginning", "Accepted", "For review", "Incomplete", "Misrouted", "MAR chart registration"]
    this_week = dict(zip([*headings, "Total"], rows[-1], strict=True))
    # the samples (two accepted referrals, one incomplete, one misrouted, one MAR registration; the email with
    # no form and the automatic one are not referrals) and the workspace's own two: incomplete, for review
    assert {k: this_week[k] for k in headings[1:]} == {
        "Accepted": "2",
        "For review": "1",
        "Incomplete": "2",
        "Misrouted": "1",
        "MAR chart registration": "1",
    }
    assert this_week["Total"] == "7"
    csv_rows = download(workspace, "/reports/referrals.csv")
    assert csv_rows[0] == [*headings, "Total"]
    assert csv_rows[-1][1:] == ["2", "1", "2", "1", "1", "7"]
    assert len(csv_rows) == 13


def test_an_assessment_and_its_calls_show_in_the_reports(workspace: Workspace) -> None:
    workspace.sign_in()
    assess_today(workspace, first_reference(workspace))

    page = workspace.client.get("/reports").text

    waits = table_rows(page, "Working days from arrival to assessment, by week of assessment</caption>")
    assert waits[-1][:2] == ["All 12 weeks", "1"]
    assert waits[-2][1] == "1"
    assert download(workspace, "/reports/days-to-assessment.csv")[-1][:2] == ["All 12 weeks", "1"]

    workspace.clock.advance(days=50)  # the 6-week call falls due, and is not made
    workspace.sign_in()
    calls = table_rows(workspace.client.get("/reports").text, "Follow-up calls due in the 12 weeks, by stage</caption>")
    assert calls[0] == ["6 weeks", "1", "0", "0", "1", "0%"]
    assert download(workspace, "/reports/calls.csv")[1] == ["6 weeks", "1", "0", "0", "1", "0%"]


def test_the_downloads_hold_no_patient_data(workspace: Workspace) -> None:
    patients = patient_values(all_scenarios(today()))
    assert patients
    workspace.sign_in()
    assess_today(workspace, first_reference(workspace))
    for path in DOWNLOADS:
        text = workspace.client.get(path).text
        assert not {value for value in patients if value in text}, path
        assert "NMSS-" not in text


def test_reports_are_for_signed_in_people_only(workspace: Workspace) -> None:
    for path in ("/reports", *DOWNLOADS):
        response = workspace.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in")
