"""The container image, built without a Docker engine: the Dockerfile's own instructions, read by Docker's
parser, run here on a folder standing in for the image's filesystem, from the build context .dockerignore
lets through. Then the service runs from it as a non-root user on an empty volume folder, as it would in
the container, and must work while writing nowhere else.

The stages share one folder here, so ``COPY --from`` copies within it. Two steps differ from a real build:
the ``user`` step is not run (a test must not add users to this machine; the image's user is ``nobody``
here), and the web-assets stage's ``npm ci`` finds the packages ``make install`` put in node_modules from the
same package-lock.json, rather than downloading them again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import dockerfile
import pytest
from docker.utils.build import exclude_paths
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from samples.scenarios import all_scenarios, deliver_to_maildir
from tests.locks import ROOT, RUNTIME_LOCK, read_lock

# Debian's python3 (python3-venv, from scripts/install-system-packages) stands in for the image's python3:
# the same major release, and runnable by a user who cannot reach a pyenv under /root.
PYTHON = "/usr/bin/python3"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the python image's PATH
STEP_TIMEOUT = 900  # a hung step fails the test instead of the whole run; not a speed limit


@dataclass
class Image:
    """The built image: its filesystem under ``root`` and the runtime stage's settings."""

    root: Path
    context: Path
    uid: int
    gid: int
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    volumes: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)  # made by the `user` step: name -> uid
    monitoring_port: int = field(default_factory=lambda: free_port())

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def environment(self) -> dict[str, str]:
        path = ":".join(
            str(self.path(entry)) if self.path(entry).is_dir() else entry
            for entry in expand(self.env.get("PATH", BASE_PATH)).split(":")
        )
        # On a free loopback port: the image listens on every address of its own network, here the host's.
        listen = {"NMSS_MONITORING__HOST": "127.0.0.1", "NMSS_MONITORING__PORT": str(self.monitoring_port)}
        return {**self.env, **listen, "PATH": path, "HOME": str(self.path(self.workdir)), "NMSS_LOG_FORMAT": "json"}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``argv`` as the image's USER in its WORKDIR with its ENV, as `docker run` would."""
        return subprocess.run(
            [*as_user(self.uid, self.gid), *argv],
            cwd=self.path(self.workdir),
            env=self.environment(),
            capture_output=True,
            text=True,
            check=check,
            timeout=STEP_TIMEOUT,
        )

    def start(self, *argv: str) -> subprocess.Popen[str]:
        """``argv`` started as ``run`` would run it, left running."""
        return subprocess.Popen(
            [*as_user(self.uid, self.gid), *argv],
            cwd=self.path(self.workdir),
            env=self.environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )


def expand(value: str) -> str:
    return value.replace("$PATH", BASE_PATH).replace("${PATH}", BASE_PATH)


def as_user(uid: int, gid: int) -> list[str]:
    if os.geteuid() == uid:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def build_context(into: Path) -> None:
    """Copy what `docker build .` would send: the repository less what .dockerignore keeps out."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for relative in exclude_paths(str(ROOT), patterns):
        source = ROOT / relative
        if source.is_file():
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / relative)


def build(image: Image) -> None:
    """Run the Dockerfile's instructions, absolute paths mapped under ``image.root``."""
    build_log: list[str] = []
    for instruction in dockerfile.parse_file(str(image.context / "Dockerfile")):
        name, values, flags = instruction.cmd.upper(), list(instruction.value), list(instruction.flags)
        if name == "FROM":
            image.env, image.workdir = {}, "/"
        elif name == "ENV":
            image.env |= {key: expand(value) for key, value in zip(values[::2], values[1::2], strict=True)}
        elif name == "WORKDIR":
            image.workdir = str(PurePosixPath(image.workdir) / values[0])
            image.path(image.workdir).mkdir(parents=True, exist_ok=True)
        elif name == "COPY" and any(flag.startswith("--from=") for flag in flags):
            source, target = image.path(values[0]), image.path(str(PurePosixPath(image.workdir) / values[1]))
            assert source.exists(), f"{instruction.original}: the stage made no {values[0]}"
            if source != target:
                shutil.copytree(source, target, dirs_exist_ok=True)
        elif name == "COPY":
            copy(image, values[:-1], values[-1])
        elif name == "RUN":
            for part in values[0].split("&&"):
                build_log.append(run_step(image, shlex.split(part)))
        elif name == "USER":
            image.user = values[0]
        elif name == "VOLUME":
            image.volumes.extend(values)
        elif name == "EXPOSE":
            image.ports.extend(values)
        elif name == "HEALTHCHECK":
            image.healthcheck = values[1:]
        elif name == "CMD":
            image.cmd = values
        else:
            assert name == "ARG", f"the image test does not know how to build {instruction.original!r}"


def copy(image: Image, sources: list[str], destination: str) -> None:
    target = image.path(str(PurePosixPath(image.workdir) / destination))
    for source in sources:
        origin = image.context / source
        assert origin.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
        into = target / origin.name if destination.endswith("/") else target
        if origin.is_dir():
            shutil.copytree(origin, target if not destination.endswith("/") else into, dirs_exist_ok=True)
        else:
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, into)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_step(image: Image, argv: list[str]) -> str:
    """One command of a RUN line, as root (as in the build), its absolute paths mapped under the root."""
    program, *args = argv
    if "/" in program:
        script = image.path(str(PurePosixPath(image.workdir) / program))
    else:
        found = [image.path(d) / program for d in expand(image.env.get("PATH", BASE_PATH)).split(":")]
        script = next(p for p in found if p.is_file())
    if args[:1] == ["user"]:  # name uid home: the image's user is this test's user instead
        image.users[args[1]] = int(args[2])
        return f"user: skipped, running as uid {image.uid}"
    if script.name == "install-web-assets":
        lock_hash = hashlib.sha1((ROOT / "package-lock.json").read_bytes()).hexdigest()[:12]
        stamp = ROOT / "node_modules" / f".installed-{lock_hash}"
        assert stamp.exists(), "node_modules is not package-lock.json's: run make install"
        (script.parent.parent / "node_modules").symlink_to(ROOT / "node_modules")
    mapped = [
        str(image.path(arg)) if arg.startswith("/") else pwd.getpwuid(image.uid).pw_name if arg in image.users else arg
        for arg in args
    ]
    done = subprocess.run(
        [str(script), *mapped],
        cwd=image.path(image.workdir),
        env={**os.environ, "PYTHON": PYTHON},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{program} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    # Not pytest's tmp_path: its parents are root's alone, and the image's user must reach this folder.
    with tempfile.TemporaryDirectory(prefix="nmss-image-") as folder:
        top = Path(folder)
        top.chmod(0o755)
        user = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        built = Image(root=top / "image", context=top / "context", uid=user.pw_uid, gid=user.pw_gid)
        built.root.mkdir(mode=0o755)
        build_context(built.context)
        build(built)
        yield built


def tree(root: Path, *, skip: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` but ``skip``: its size, modification time and mode."""
    found = {}
    for path in root.rglob("*"):
        if path == skip or skip in path.parents:
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def test_the_build_context_holds_the_sources_and_not_the_virtualenv_or_local_state(image):
    sent = {str(p.relative_to(image.context)) for p in image.context.rglob("*")}
    assert "intake/cli/run.py" in sent
    assert "requirements/runtime.lock" in sent
    assert not {
        p
        for p in sent
        if p.split("/")[0] in {".venv", "node_modules", "var", "tests", ".git", "secrets", "nmss-intake.toml"}
    }
    assert not {p for p in sent if p.startswith("intake/web/static/nhsuk")}, "the web assets are the image's to build"
    assert not {p for p in sent if "__pycache__" in p}
    size = sum(p.stat().st_size for p in image.context.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024, f"the build context is {size} bytes"


def test_the_image_runs_as_its_own_non_root_user_from_a_volume_it_owns(image):
    made = image.users.get("nmss")
    assert made, "the image makes no user of its own"
    assert made != 0
    assert image.user == f"{made}:{made}", "USER must be the user the image makes"
    assert image.workdir == "/srv/nmss"
    assert image.volumes == ["/srv/nmss/var"]
    home, volume = image.path(image.workdir).stat(), image.path(image.volumes[0]).stat()
    assert (home.st_uid, stat.S_IMODE(home.st_mode)) == (0, 0o755)  # a mounted settings file is read here
    assert (volume.st_uid, volume.st_gid) == (image.uid, image.gid)
    assert stat.S_IMODE(volume.st_mode) == 0o750
    assert image.cmd == ["nmss-intake", "run"]
    # The workspace's, when the same image runs `nmss-intake web`; the daemon's health and metrics.
    assert image.ports == ["8000", image.env["NMSS_MONITORING__PORT"]]


def test_the_image_holds_exactly_the_locked_dependencies_and_no_demo_extra(image):
    python = image.path("/opt/nmss-intake/bin/python")
    listed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps({d.name: d.version for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {canonicalize_name(name): version for name, version in json.loads(listed.stdout).items()}
    assert installed.pop("nmss-intake") == "0.1.0"
    installed.pop("pip", None)  # the venv's own installer, from the interpreter
    installed.pop("setuptools", None)
    # The lock's markers, judged for the venv's interpreter, not this test's.
    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = {"python_full_version": version, "python_version": ".".join(version.split(".")[:2])}
    wanted = {
        pin.name: str(pin.version)
        for pin in read_lock(RUNTIME_LOCK.read_text())
        if pin.marker is None or Marker(pin.marker).evaluate(here)
    }
    assert installed == wanted
    assert "reportlab" not in installed
    assert "pypdf" not in installed


def test_the_service_works_as_the_image_user_and_writes_only_to_its_volume(image):
    volume = image.path(image.volumes[0])
    before = tree(image.root, skip=volume)
    scenarios = all_scenarios(dt.date.today(), seed=3)
    deliver_to_maildir(volume / "mailbox", scenarios)
    for path in [volume / "mailbox", *(volume / "mailbox").rglob("*")]:
        os.chown(path, image.uid, image.gid)

    image.run("nmss-intake", "db", "upgrade")
    ran = image.run("nmss-intake", "run", "--once")
    healthy = healthy_while_the_daemon_runs(image)
    listed = image.run("nmss-intake", "referrals", "list", "--json")

    assert not list((volume / "mailbox" / "new").iterdir()), ran.stderr
    filed = sum(len(list((folder / "cur").iterdir())) for folder in (volume / "mailbox").glob(".*"))
    assert filed == len(scenarios), ran.stderr
    assert json.loads(listed.stdout), "no referral was queued"
    assert any((volume / "outbox").iterdir()), "no reply was written"
    assert healthy
    assert tree(image.root, skip=volume) == before
    assert {p.stat().st_uid for p in volume.rglob("*")} == {image.uid}


def healthy_while_the_daemon_runs(image: Image) -> bool:
    """Start the image's CMD (the daemon) as its user, and wait for its HEALTHCHECK to pass; then stop it."""
    assert image.healthcheck == ["nmss-intake", "probe"]
    assert image.run(*image.healthcheck, check=False).returncode == 1, "healthy with no daemon running"
    daemon = image.start(*image.cmd)
    try:
        deadline = time.monotonic() + STEP_TIMEOUT  # a guard against a hang, not a measure of speed
        while time.monotonic() < deadline and daemon.poll() is None:
            if image.run(*image.healthcheck, check=False).returncode == 0:
                return True
            time.sleep(0.5)
        return False
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=STEP_TIMEOUT)


def test_the_demo_samples_are_not_in_the_image_and_asking_for_them_is_one_line(image):
    asked = image.run("nmss-intake", "samples", "deliver", check=False)
    assert asked.returncode == 1
    assert asked.stderr.strip().splitlines() == [
        "Error: the samples need reportlab and pypdf: pip install 'nmss-intake[samples]'"
    ]


def test_the_workspace_and_its_nhs_frontend_are_in_the_image(image):
    # The web-assets stage's output travels into the wheel: the workspace serves it from the package.
    [styles] = image.path("/opt/nmss-intake").glob("lib/python3*/site-packages/intake/web/static/nhsuk/workspace.css")
    assert styles.stat().st_size > 0
    helped = image.run("nmss-intake", "web", "--help")
    assert "--port" in helped.stdout
