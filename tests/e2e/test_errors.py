"""What goes wrong around the service, not in the mail, is one clear line: the command as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_hostile import memory_bomb

from .conftest import Service

SCRIPT = Path(sys.executable).with_name("nmss-intake")


def nmss(service: Service, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command in the service's folder, with only the ``NMSS_`` variables given here."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")}
    environment |= {"NMSS_LOG_FORMAT": "json", **env}
    return subprocess.run(
        [str(SCRIPT), *args], cwd=service.root, env=environment, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("data", "memory_mb"),
    [
        pytest.param(memory_bomb(300), 256, id="a-page-that-inflates-past-the-cap"),
        pytest.param(b"%PDF-1.7\n" + bytes(20 * 1024 * 1024), 128, id="a-file-too-big-for-the-worker-to-take-in"),
    ],
)
def test_a_worker_that_runs_out_of_memory_logs_one_json_line_and_no_traceback(
    service: Service, data: bytes, memory_mb: int
) -> None:
    (service.root / "Form 2 Ada Testcase.pdf").write_bytes(data)

    result = nmss(service, "parse", "Form 2 Ada Testcase.pdf", NMSS_LIMITS__PARSE_MEMORY_MB=str(memory_mb))

    assert (result.returncode, result.stdout) == (0, "Form 2 Ada Testcase.pdf: no form, too_large\n")
    [line] = result.stderr.splitlines()
    assert json.loads(line)["event"] == "parse_worker_out_of_memory"
    assert "Testcase" not in line
