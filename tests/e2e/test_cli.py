"""Every command through the real CLI: exit codes and output, errors included."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from config import load_form_definitions
from intake.cli import cli
from samples.forms import complete_values, fillable_pdf
from samples.people import patient
from samples.scenarios import Scenario

from .conftest import Service, today

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_parse_json_gives_typed_values_for_a_complete_form(service: Service) -> None:
    values = complete_values("form2", patient(3), today=today(), seed=3)
    pdf = write(service.root / "form2.pdf", fillable_pdf("form2", values))

    result = service.invoke("parse", pdf, "--json")

    assert result.exit_code == 0, result.output
    [parsed] = json.loads(result.stdout)
    assert (parsed["file"], parsed["form"], parsed["readable"], parsed["problem"]) == (pdf, "form2", True, None)
    assert (parsed["missing"], parsed["invalid"]) == ([], [])
    fields = parsed["fields"]
    assert re.fullmatch(r"999\d{7}", fields["patient.nhs_number"])
    assert fields["patient.dob"] == values["patient.dob"].isoformat()  # type: ignore[union-attr]
    assert fields["consent.given"] is True
    assert fields["reasons"] == list(values["reasons"])  # type: ignore[arg-type]
    assert all(re.fullmatch(r"D\d+", code) for code in fields["reasons"])


def test_parse_json_names_the_empty_required_fields(service: Service) -> None:
    values = complete_values("form1", patient(4), today=today(), seed=4)
    del values["patient.dob"], values["description"]
    pdf = write(service.root / "form1.pdf", fillable_pdf("form1", values))

    [parsed] = json.loads(service.invoke("parse", pdf, "--json").stdout)

    assert parsed["form"] == "form1"
    assert parsed["missing"] == ["patient.dob", "description"]


def test_parse_says_plainly_when_a_file_is_not_a_form(service: Service) -> None:
    text = write(service.root / "letter.pdf", b"Dear team, please see attached.")
    empty = write(service.root / "empty.pdf", b"")

    result = service.invoke("parse", text, empty, "--json")

    parsed = json.loads(result.stdout)
    assert [(p["form"], p["problem"]) for p in parsed] == [(None, "unrecognised"), (None, "corrupt")]
    assert [p["readable"] for p in parsed] == [True, False]
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {text}: no form read: neither an email, a PDF nor a Word (.docx) file: parse reads forms in PDF "
        "and Word (.docx) files",
        f"Error: {empty}: no form read: cannot be opened (empty or damaged)",
    ]


def test_parse_of_a_file_that_is_not_a_form_is_an_error_after_the_forms_are_read(service: Service) -> None:
    values = complete_values("form1", patient(6), today=today(), seed=6)
    pdf = write(service.root / "form1.pdf", fillable_pdf("form1", values))

    result = service.invoke("parse", pdf, str(ROOT / "README.md"))

    assert result.exit_code == 1
    assert result.stdout.startswith(f"{pdf}: form1, ")
    assert result.stderr == (
        f"Error: {ROOT / 'README.md'}: no form read: neither an email, a PDF nor a Word (.docx) file: parse reads "
        "forms in PDF and Word (.docx) files\n"
    )


def test_parse_explain_on_a_fillable_pdf_names_the_printed_label_and_the_fillable_field(service: Service) -> None:
    definition = load_form_definitions()["form2"]
    values = complete_values("form2", patient(3), today=today(), seed=3)
    pdf = write(service.root / "form2.pdf", fillable_pdf("form2", values))
    filled = sum(1 for field in definition.fields if field.key in values)

    lines = service.invoke("parse", pdf, "--explain").stdout.splitlines()

    assert lines[0] == f"{pdf}: form2, {filled} of {len(definition.fields)} fields filled"
    explained = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert list(explained) == [field.key for field in definition.fields]
    surname = definition.field("patient.surname")
    assert surname is not None
    assert explained["patient.surname"] == f'page 1, fillable field "patient.surname" (printed label "{surname.label}")'
    missing = next(field for field in definition.fields if field.key not in values and field.type == "text")
    assert explained[missing.key] == f'not found; looked for "{missing.key}"'


def test_parse_without_json_prints_a_line_per_file(service: Service) -> None:
    values = complete_values("mar", patient(5), today=today(), seed=5)
    pdf = write(service.root / "mar.pdf", fillable_pdf("mar", values))

    result = service.invoke("parse", pdf)

    assert result.stdout.startswith(f"{pdf}: mar, ")


def test_check_json_decides_each_sample_without_side_effects(service: Service, scenarios: list[Scenario]) -> None:
    paths = [write(service.root / f"{s.name}.eml", s.raw) for s in scenarios]

    result = service.invoke("check", *paths, "--json")

    assert result.exit_code == 0, result.output
    decided = json.loads(result.stdout)
    assert [d["outcome"] for d in decided] == [s.expected_outcome for s in scenarios]
    for item in decided:
        assert set(item) >= {"file", "message_id", "outcome", "forms", "problems", "reply"}
        assert item["reply"] is (item["outcome"] in ("incomplete", "misrouted"))
        for problem in item["problems"]:
            assert set(problem) == {"form", "field", "label", "code"}
    assert not (service.root / "var").exists(), "check has no side effects"


def test_check_of_a_form_rather_than_an_email_is_a_one_line_error(service: Service) -> None:
    values = complete_values("form1", patient(7), today=today(), seed=7)
    pdf = write(service.root / "Form1.pdf", fillable_pdf("form1", values))

    result = service.invoke("check", pdf)

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {pdf} is a PDF, not an email: check takes saved emails (.eml); to read a form, use "
        f"`nmss-intake parse {pdf}`\n"
    )
    assert not (service.root / "var").exists(), "nothing was decided"


def test_referrals_list_on_a_new_install_says_the_queue_is_empty(service: Service) -> None:
    result = service.invoke("referrals", "list")
    assert (result.exit_code, result.stdout) == (0, "The queue is empty.\n")


def test_db_upgrade_creates_the_database_and_can_run_again(service: Service) -> None:
    first = service.invoke("db", "upgrade")
    second = service.invoke("db", "upgrade")
    assert first.exit_code == second.exit_code == 0
    shown = "sqlite:///var/nmss.db" if service.on_sqlite else service.database
    assert second.stdout == f"Database is up to date ({shown}).\n"
    assert service.has_database()


def test_a_missing_config_file_is_a_one_line_error(service: Service) -> None:
    result = service.invoke("--config", "nowhere.toml", "referrals", "list")
    assert (result.exit_code, result.stderr) == (1, "Error: no configuration file at nowhere.toml\n")


def test_an_invalid_setting_is_named_without_echoing_secrets(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    (service.root / "nmss-intake.toml").write_text(
        'poll_interval_seconds = 1\ndatabase_url = "postgresql://u:hunter2@h/db"\n'
    )
    result = service.invoke("referrals", "list")
    assert result.exit_code == 1
    assert "poll_interval_seconds" in result.stderr
    assert "hunter2" not in result.stderr


def test_environment_variables_override_the_config_file(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    (service.root / "nmss-intake.toml").write_text('[mailbox]\npath = "from-file"\n')
    monkeypatch.setenv("NMSS_MAILBOX__PATH", "from-env")
    service.invoke("samples", "deliver")
    assert (service.root / "from-env" / "new").is_dir()
    assert not (service.root / "from-file").exists()


def test_samples_deliver_puts_one_email_of_each_kind_in_the_maildir(service: Service) -> None:
    result = service.invoke("samples", "deliver")
    assert result.exit_code == 0
    delivered = list((service.mailbox / "new").iterdir())
    assert f"Delivered {len(delivered)} sample email(s) into var/mailbox" in result.stdout


HEAVY = {"sqlalchemy", "sqlmodel", "alembic", "pdfplumber", "pdfminer", "docx", "msal", "exchangelib", "httpx"}


def imported_by(*args: str, cwd: Path) -> set[str]:
    """The top-level packages a real ``nmss-intake`` process imports, as ``python -X importtime`` lists them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "intake.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=True,
    )
    return {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}


def test_help_imports_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    imported = imported_by("--help", cwd=tmp_path)
    assert "click" in imported
    assert imported & (HEAVY | {"pydantic", "pydantic_settings", "structlog"}) == set()


def test_parse_needs_no_database_or_mailbox_libraries(tmp_path: Path) -> None:
    values = complete_values("mar", patient(8), today=today(), seed=8)
    pdf = write(tmp_path / "mar.pdf", fillable_pdf("mar", values))
    imported = imported_by("parse", pdf, cwd=tmp_path)
    assert "pydantic_settings" in imported
    assert imported & {"sqlalchemy", "sqlmodel", "alembic", "msal", "exchangelib", "httpx"} == set()


def commands(group: object = cli, prefix: str = "") -> list[str]:
    found = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if getattr(command, "commands", None):
            found += commands(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_and_is_in_the_readme(service: Service, command: str) -> None:
    result = service.invoke(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert f"`nmss-intake {command}" in (ROOT / "README.md").read_text()


def test_the_sample_practice_list_imports_as_norfolk_practices(service: Service) -> None:
    written = service.invoke("samples", "practices", "var/epraccur.csv")
    imported = service.invoke("practices", "import", "var/epraccur.csv", "--commissioner", "26A")

    assert written.exit_code == imported.exit_code == 0
    assert imported.stdout.startswith("Imported 9 practice(s) for 26A")


def test_samples_forms_writes_forms_that_parse_reads(service: Service) -> None:
    written = service.invoke("samples", "forms", "forms")
    files = sorted(str(path) for path in (service.root / "forms").iterdir())

    result = service.invoke("parse", *files, "--json")

    assert written.exit_code == result.exit_code == 0, result.output
    parsed = {Path(item["file"]).name: item for item in json.loads(result.stdout)}
    assert {name: item["form"] for name, item in parsed.items()} == {
        "Form 1.pdf": "form1",
        "Form 1 incomplete.pdf": "form1",
        "Form 2.pdf": "form2",
        "Form 2 printed.pdf": "form2",
        "Form 2.docx": "form2",
        "MIAT.pdf": "miat",
        "MAR chart registration.pdf": "mar",
    }
    assert parsed["Form 1 incomplete.pdf"]["missing"] == ["patient.dob", "description"]
    complete = [item for name, item in parsed.items() if name != "Form 1 incomplete.pdf"]
    assert all((item["missing"], item["invalid"]) == ([], []) for item in complete)
    assert re.search(r"NHS number 999\d{7}\)", written.stdout)


def test_users_reset_password_prints_the_one_time_password_alone_and_refuses_in_one_line(service: Service) -> None:
    added = CliRunner().invoke(
        cli, ["users", "add", "technician@example.org", "--role", "team", "--password-stdin"], "an old password\n"
    )
    assert added.exit_code == 0, added.output
    assert service.invoke("users", "add", "pharmacist@nhs.net", "--role", "team").exit_code == 0

    reset = service.invoke("users", "reset-password", "technician@example.org")
    again = service.invoke("users", "reset-password", "technician@example.org")
    nhsmail = service.invoke("users", "reset-password", "pharmacist@nhs.net")
    unknown = service.invoke("users", "reset-password", "nobody@example.org")

    assert reset.exit_code == 0, reset.output
    [one_time] = reset.stdout.splitlines()
    assert len(one_time) == 20
    assert "shown only now" in reset.stderr
    [other] = again.stdout.splitlines()
    assert other != one_time, "a new one each time"
    assert (nhsmail.exit_code, nhsmail.stdout) == (1, "")
    assert nhsmail.stderr == "Error: pharmacist@nhs.net signs in with NHSmail: there is no password here to reset\n"
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: nobody@example.org has no account\n")
    [(hashed,)] = service.rows("SELECT password_hash FROM user_account WHERE email = 'technician@example.org'")
    assert str(hashed).startswith("$argon2"), "only its hash is kept"
