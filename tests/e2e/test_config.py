"""Settings mistakes through the real CLI: one line each, naming the file, the section and the key; never a
traceback, never a secret, and never a run on defaults the file meant to change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from .conftest import Service

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("nhsmail-*.toml"))


def settings_file(service: Service, text: str) -> None:
    (service.root / "nmss-intake.toml").write_text(text)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            '[mailbox]\npth = "/srv/nmss/mailbox"\n',
            'nmss-intake.toml: [mailbox] unknown key "pth" (did you mean "path"?)',
        ),
        (
            "[limits]\nparse_timout_seconds = 10\n",
            'nmss-intake.toml: [limits] unknown key "parse_timout_seconds" (did you mean "parse_timeout_seconds"?)',
        ),
        (
            '[service]\nadress = "nmss@nhs.net"\n',
            'nmss-intake.toml: [service] unknown key "adress" (did you mean "address"?)',
        ),
        (
            '[mailbox.imap.oauth]\ntenantid = "x"\n',
            'nmss-intake.toml: [mailbox.imap.oauth] unknown key "tenantid" (did you mean "tenant_id"?)',
        ),
        (
            "pol_interval_seconds = 30\n",
            'nmss-intake.toml: unknown key "pol_interval_seconds" (did you mean "poll_interval_seconds"?)',
        ),
        ('[mailbx]\nkind = "maildir"\n', "nmss-intake.toml: unknown section [mailbx] (did you mean [mailbox]?)"),
    ],
    ids=["mailbox.pth", "limits.parse_timout_seconds", "service.adress", "nested three deep", "top level", "section"],
)
def test_a_misspelt_key_at_any_depth_stops_the_run_with_one_line_naming_it(
    service: Service, text: str, line: str
) -> None:
    service.invoke("samples", "deliver", "--into", "var/mailbox")
    settings_file(service, text)

    result = service.invoke("run", "--once")

    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"Error: {line}\n")
    assert not service.has_database(), "nothing ran"
    assert {path.parent.name for path in service.inbox()} == {"new"}, "the mail waits, untouched"


def test_every_mistake_in_a_file_is_its_own_line(service: Service) -> None:
    settings_file(service, '[mailbox]\npth = "x"\n[limits]\nparse_memory_mb = 10\n')

    result = service.invoke("referrals", "list")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'Error: nmss-intake.toml: [mailbox] unknown key "pth" (did you mean "path"?)',
        "Error: nmss-intake.toml: [limits] parse_memory_mb: Input should be greater than or equal to 128",
    ]


def test_a_bad_environment_variable_is_named_as_such(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMSS_LIMITS__PARSE_WORKERS", "0")

    result = service.invoke("referrals", "list")

    assert (result.exit_code, result.stderr) == (
        1,
        "Error: environment variable NMSS_LIMITS__PARSE_WORKERS: [limits] parse_workers: "
        "Input should be greater than or equal to 1\n",
    )


def test_a_toml_syntax_error_is_one_line_with_its_line_and_column_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "nmss-intake.toml").write_text('[service]\naddress = "nmss@nhs.net\n[mailbox]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
    script = shutil.which("nmss-intake", path=str(Path(sys.executable).parent))
    assert script is not None

    done = subprocess.run([script, "status"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("Error: nmss-intake.toml, line 2, column 24: not valid TOML: Illegal character '\\n'\n")


def test_an_imap_mailbox_with_no_host_says_so_at_start_up(service: Service) -> None:
    settings_file(service, '[mailbox]\nkind = "imap"\n[mailbox.imap]\nusername = "nmss@nhs.net"\nauth = "password"\n')

    result = service.invoke("run", "--once")

    assert (result.exit_code, result.stderr) == (
        1,
        'Error: nmss-intake.toml: [mailbox] kind = "imap" needs host, password in [mailbox.imap]\n',
    )


def test_a_secret_in_a_broken_file_is_never_echoed(service: Service) -> None:
    settings_file(
        service, '[mailbox]\nkind = "graph"\n[mailbox.graph]\nclient_secret = "hunter2"\nclient_sceret = "hunter3"\n'
    )

    result = service.invoke("run", "--once")

    assert result.exit_code == 1
    assert "hunter" not in result.output
    assert 'unknown key "client_sceret" (did you mean "client_secret"?)' in result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_config_check_passes_the_shipped_nhsmail_examples(service: Service, example: Path) -> None:
    result = service.invoke("config", "check", str(example))

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert result.stdout.startswith(f"{example}: valid.\n")
    assert "REPLACE" not in result.stdout, "the database password is hidden"


def test_the_examples_cover_nhsmail_in_and_out() -> None:
    examples = [tomllib.loads(path.read_text()) for path in EXAMPLES]
    kinds = {(example["mailbox"]["kind"], example["outgoing"]["kind"]) for example in examples}
    assert kinds == {("imap", "smtp"), ("graph", "graph")}
    imap = next(example for example in examples if example["mailbox"]["kind"] == "imap")
    assert (imap["mailbox"]["imap"]["auth"], imap["outgoing"]["smtp"]["auth"]) == ("xoauth2", "xoauth2")


def test_config_check_names_a_typo_in_an_example_in_one_line(service: Service) -> None:
    typo = service.root / "typo.toml"
    typo.write_text((ROOT / "examples" / "nhsmail-imap-smtp.toml").read_text().replace("\nfolder =", "\nfoldr ="))

    result = service.invoke("config", "check", str(typo))

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f'Error: {typo}: [mailbox.imap] unknown key "foldr" (did you mean "folder"?)\n'


def test_config_check_checks_the_default_file_even_when_it_is_broken(service: Service) -> None:
    settings_file(service, '[outgoing]\nkind = "smtp"\n')

    result = service.invoke("config", "check")

    assert (result.exit_code, result.stderr) == (
        1,
        'Error: nmss-intake.toml: [outgoing] kind = "smtp" needs oauth.tenant_id, oauth.client_id, '
        "oauth.client_secret in [outgoing.smtp]\n",
    )


@pytest.mark.sqlite_only  # the embedded defaults: no NMSS_DATABASE_URL
def test_config_check_of_the_embedded_defaults_says_what_they_are(service: Service) -> None:
    result = service.invoke("config", "check")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "The embedded defaults: valid.",
        "  mail in    Maildir var/mailbox",
        "  mail out   .eml files written to var/outbox; nothing is sent",
        "  database   sqlite:///var/nmss.db",
        "  also from  NMSS_LOG_FORMAT",
    ]
    assert not (service.root / "var").exists(), "checking connects to nothing and creates nothing"


def test_the_demo_settings_are_the_embedded_defaults(service: Service) -> None:
    spelt_out = service.invoke("--config", str(ROOT / "examples" / "demo.toml"), "config", "check").stdout
    embedded = service.invoke("config", "check").stdout
    assert spelt_out.splitlines()[1:] == embedded.splitlines()[1:]


def test_a_settings_file_that_is_not_text_is_one_line(service: Service) -> None:
    (service.root / "nmss-intake.toml").write_bytes(b"\xff\xfe[\x00m\x00")

    result = service.invoke("status")

    assert (result.exit_code, result.stderr) == (1, "Error: nmss-intake.toml: not UTF-8 text\n")
