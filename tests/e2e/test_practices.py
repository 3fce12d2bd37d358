"""The practice list: imported from an epraccur file, then used to check each referral's GP practice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

from samples.emails import referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import OUT_OF_AREA_PRACTICE, patient
from samples.practices import epraccur_csv
from samples.scenarios import FILENAMES, LONDON, Scenario, accepted

from .conftest import Service, today


def write_epraccur(service: Service) -> Path:
    path = service.root / "epraccur.csv"
    path.write_text(epraccur_csv())
    return path


def referral_eml(service: Service, name: str, *, seed: int, gp_code: str | None = None) -> Path:
    """A complete referral (Form 2, Form 1, MIAT) for an invented patient, optionally at another practice."""
    person = patient(seed, today=today())
    if gp_code is not None:
        person = dataclasses.replace(person, gp=dataclasses.replace(OUT_OF_AREA_PRACTICE, ods_code=gp_code))
    attachments = [
        (FILENAMES[kind], fillable_pdf(kind, complete_values(kind, person, today=today(), seed=seed)))
        for kind in ("form2", "form1", "miat")
    ]
    raw = referral_email(
        attachments=attachments,
        sender=f"{person.pharmacy.name} <{person.pharmacy.email}>",
        subject="NMSS referral",
        date=dt.datetime.combine(today(), dt.time(10), tzinfo=LONDON),
    )
    path = service.root / f"{name}.eml"
    path.write_bytes(raw)
    return path


def check(service: Service, *paths: Path) -> list[dict[str, object]]:
    result = service.invoke("check", *map(str, paths), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_importing_epraccur_keeps_the_practices_of_the_commissioner_given(service: Service) -> None:
    result = service.invoke("practices", "import", str(write_epraccur(service)), "--commissioner", "26A")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Imported 9 practice(s) for 26A (8 active, 1 closed); left out 1 of other commissioners.\n"
    )


def test_before_any_import_the_practice_check_is_skipped_and_check_says_so(service: Service) -> None:
    [item] = check(service, referral_eml(service, "out-of-area", seed=3, gp_code="Y99901"))

    assert item["outcome"] == "accepted"
    assert item["eligibility"] == []
    assert item["warnings"] == ["practice_check_skipped"]
    assert not service.has_database(), "check must not create the database"


def test_with_the_list_imported_a_practice_outside_it_sends_the_referral_to_review(service: Service) -> None:
    service.invoke("practices", "import", str(write_epraccur(service)))  # 26A, the default commissioner

    [outside, closed, inside] = check(
        service,
        referral_eml(service, "out-of-area", seed=3, gp_code="Y99901"),
        referral_eml(service, "closed", seed=4, gp_code="D99009"),
        referral_eml(service, "norfolk", seed=5),
    )

    for item in (outside, closed):
        assert (item["outcome"], item["reply"]) == ("review", False)
        assert item["eligibility"] == ["practice_not_in_list"]
        assert item["reasons"] == ["practice_not_in_list"]
    assert (inside["outcome"], inside["eligibility"], inside["warnings"]) == ("accepted", [], [])


def test_check_json_carries_the_triage_priority_and_its_flags(service: Service) -> None:
    scenario: Scenario = accepted(today(), seed=7)
    path = service.root / "accepted.eml"
    path.write_bytes(scenario.raw)

    [item] = check(service, path)

    triage = item["triage"]
    assert isinstance(triage, dict)
    assert triage["priority"] in ("urgent", "soon", "routine")
    assert isinstance(triage["flags"], list)
    assert (triage["priority"] == "routine") or triage["flags"]


def test_a_second_referral_for_a_patient_already_in_the_queue_is_flagged_not_bounced(service: Service) -> None:
    service.invoke("practices", "import", str(write_epraccur(service)))
    first = referral_eml(service, "first", seed=5)
    # Sent again by a person: a new email (its own Message-ID), not a second delivery of the first.
    second_raw = re.sub(
        rb"(?im)^Message-ID:[^\r\n]*",
        b"Message-ID: <resent.1@pharmacy.example.nhs.net>",
        first.read_bytes().replace(b"Subject: NMSS referral", b"Subject: NMSS referral (resent)"),
        count=1,
    )
    assert second_raw.count(b"resent.1@") == 1
    for n, raw in enumerate((first.read_bytes(), second_raw, first.read_bytes())):
        (service.mailbox / "new").mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "cur"):
            (service.mailbox / sub).mkdir(exist_ok=True)
        (service.mailbox / "new" / f"{n}.eml").write_bytes(raw)

    result = service.invoke("run", "--once")

    assert result.exit_code == 0, result.output
    outcomes = [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("NMSS-")]
    assert sorted(outcomes) == ["accepted", "duplicate", "review"]
    queue = json.loads(service.invoke("referrals", "list", "--json").stdout)
    assert sorted(tuple(item["reasons"]) for item in queue) == [(), ("open_referral_exists",)]


def test_a_file_not_in_the_epraccur_format_is_refused_naming_the_line(service: Service) -> None:
    path = service.root / "practices.csv"
    path.write_text("code,name\nD99001,Somewhere\n")

    result = service.invoke("practices", "import", str(path))

    assert result.exit_code == 1
    assert "line 1: 2 columns, epraccur has 27" in result.output
