"""``nmss-intake web`` as an operator starts it: a process serving the workspace until told to stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port

START_TIMEOUT = 120.0  # a wait for a condition on a busy machine, not a speed requirement


def test_the_web_command_serves_the_sign_in_page_until_stopped(
    filled: Path, filled_database: dict[str, str], tmp_path: Path
) -> None:
    shutil.copytree(filled, tmp_path / "var")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NMSS_")} | {"NMSS_LOG_FORMAT": "json"}
    env |= {f"NMSS_{name}": value for name, value in filled_database.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "intake.cli", "web", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/sign-in", timeout=10)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the workspace did not start listening"
                time.sleep(0.2)
        assert response.status_code == 200
        assert "Email address" in response.text
        assert httpx.get(f"http://127.0.0.1:{port}/assets/workspace.css", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    # uvicorn shuts down gracefully, then ends by the signal it was sent, as a service manager expects.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr
    assert "Warning" not in stderr
    assert f"The workspace is at http://127.0.0.1:{port}/" in stdout
