"""A warm ``nmss-intake``: a helper process that has imported the command once and forks one child per command.

A cold start of the console script spends over a second importing before it touches the database, so kills
timed from its start would nearly all land in the imports. Each child here is a separate process running the
real entry point (``intake.cli.main``) in its own folder and environment, from the first line of the command;
a test can kill it with SIGKILL at any instant of its work, and many runs take seconds, not minutes.

The helper forks from a process that has only imported modules (no threads, no connections), so a child starts
in a known state. It speaks JSON lines on its stdin and stdout: its first line says it is ready; a request
names the folder, the environment, the arguments and, optionally, when to kill the command (a time after it
opened the database, or after it printed a given text on stderr); the answer is the child's wait status, when it
opened the database, as seen in ``/proc/<pid>/fd``, and when it printed the text.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]

STDOUT, STDERR = ".launcher-stdout", ".launcher-stderr"
"""Where a child's output goes, in its folder, until ``run`` has read it."""

PRELOAD = (
    "config.settings",
    "config.forms",
    "config.triage",
    "intake.logs",
    "intake.assess",
    "intake.bootstrap",
    "intake.migrate",
    "intake.health",
    "intake.pipeline",
)
"""What the commands import only when they run (so that ``--help`` stays quick): imported once, here."""

ENTRY = "intake.cli:main"
"""The command's entry point, as ``module:function``: the console script's."""

POLL_SECONDS = 0.001
"""How often the helper looks for the database among a running child's open files."""

LOG_POLL_SECONDS = 0.005
"""How often the helper reads a running child's stderr for the text it waits on (a log grows to megabytes)."""


@dataclass(frozen=True)
class Ended:
    """How a command ended: its exit code, or the signal that ended it, and what it printed.

    ``opened`` is how long after its start the command first had the database open (None: never seen open),
    ``printed`` when it first printed the text it was to be killed after (None: not asked, or never printed),
    ``ended`` how long after its start it ended.
    """

    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    opened: float | None
    ended: float
    printed: float | None = None

    @property
    def killed(self) -> bool:
        return self.signal == signal.SIGKILL


class Launcher:
    """Starts the helper process; use as a context manager. One command at a time.

    ``entry`` is the ``module:function`` each child runs: the console script's, or a wrapper round it that
    watches the command from inside (bench/soak's memory probe).
    """

    def __init__(self, entry: str = ENTRY) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from tests.launcher import serve; serve(entry={entry!r})"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer()  # ready: the imports are done, so no command's time includes them

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)

    def run(
        self,
        folder: Path,
        *args: str,
        env: dict[str, str],
        database: str | None = None,
        kill_after: float | None = None,
        printed: str | None = None,
        printed_within: float = 120.0,
    ) -> Ended:
        """Run ``nmss-intake ARGS`` in ``folder`` with exactly the environment ``env``, to its end.

        Args:
            database: a regular expression for the target of the command's open file that is the database:
                a path for SQLite, ``socket:`` for a server. The helper watches for it to report ``opened``.
            kill_after: SIGKILL the command this many seconds after it opened ``database`` (or after it
                printed ``printed``, or after its start), unless it ended first.
            printed: a text the command prints on stderr (a log event, say) that ``kill_after`` counts from.
                A command that has not printed it within ``printed_within`` seconds is killed then, so that a
                stuck command cannot hang the test (``Ended.printed`` is None: the test says what it expected).
        """
        assert self.process.stdin is not None
        assert printed is None or database is None, "one starting point for kill_after"
        request = {
            "cwd": str(folder),
            "args": list(args),
            "env": env,
            "database": database,
            "kill_after": kill_after,
            "printed": printed,
            "printed_within": printed_within,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._ended(folder, self._answer())

    def spawn(self, folder: Path, *args: str, env: dict[str, str]) -> int:
        """Start ``nmss-intake ARGS`` in ``folder`` with exactly the environment ``env`` and return its pid at
        once, while it runs (a daemon); ``end`` it. The pid stays the command's until ``end`` has reaped it, so
        signalling it meanwhile is safe. Other commands can run or be spawned in between."""
        assert self.process.stdin is not None
        request = {"spawn": True, "cwd": str(folder), "args": list(args), "env": env}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self._answer()["pid"])

    def end(self, folder: Path, pid: int, signum: int | None = signal.SIGKILL) -> Ended:
        """Send ``signum`` (None: none) to the command ``spawn`` started in ``folder``, wait for it to end
        and say how it ended."""
        if signum is not None:
            os.kill(pid, signum)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"reap": pid}) + "\n")
        self.process.stdin.flush()
        return self._ended(folder, self._answer())

    def _ended(self, folder: Path, answer: dict[str, Any]) -> Ended:
        status = answer["status"]
        out, err = folder / STDOUT, folder / STDERR
        ended = Ended(
            exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            stdout=out.read_text(errors="replace"),
            stderr=err.read_text(errors="replace"),
            opened=answer["opened"],
            ended=answer["ended"],
            printed=answer.get("printed"),
        )
        out.unlink()
        err.unlink()
        return ended

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the launcher ended (exit code {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer


def serve(requests: IO[str] = sys.stdin, answers: IO[str] = sys.stdout, entry: str = ENTRY) -> None:
    """The helper's loop: import the command and what its commands import once; per request fork, watch
    (killing on time), answer."""
    module_name, _, function = entry.partition(":")
    main = getattr(importlib.import_module(module_name), function)
    for module in PRELOAD:
        importlib.import_module(module)
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    spawned: dict[int, float] = {}  # pid -> when it started, of the commands started with ``spawn``
    for line in requests:
        request = json.loads(line)
        if "reap" in request:
            _, status = os.waitpid(request["reap"], 0)
            ended = time.monotonic() - spawned.pop(request["reap"])
            answers.write(json.dumps({"status": status, "opened": None, "ended": ended, "printed": None}) + "\n")
            answers.flush()
            continue
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns here
            _child(main, request)
        if request.get("spawn"):
            spawned[pid] = started
            answers.write(json.dumps({"pid": pid}) + "\n")
            answers.flush()
            continue
        # The child is ours and not reaped until waitpid below, so its pid names no other process meanwhile:
        # looking at /proc/<pid> and killing it are safe. The pidfd is readable once the child has ended.
        pidfd = os.pidfd_open(pid)
        try:
            if request["printed"] is not None:
                opened, printed = None, _watch_printed(pid, pidfd, request, started)
            else:
                opened, printed = _watch(pid, pidfd, request, started), None
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        ended = time.monotonic() - started
        answers.write(json.dumps({"status": status, "opened": opened, "printed": printed, "ended": ended}) + "\n")
        answers.flush()


def _watch(pid: int, pidfd: int, request: dict[str, Any], started: float) -> float | None:
    """Wait for the child to open the database (when asked to look), then to end, or kill it on time."""
    opened: float | None = None
    if request["database"] is not None:
        pattern = re.compile(request["database"])
        while opened is None:
            if _has_open(pid, pattern):
                opened = time.monotonic() - started
            elif select.select([pidfd], [], [], POLL_SECONDS)[0]:
                return None  # ended without being seen with the database open
    if request["kill_after"] is not None:
        if not select.select([pidfd], [], [], request["kill_after"])[0]:
            os.kill(pid, signal.SIGKILL)
        return opened
    select.select([pidfd], [], [])
    return opened


def _watch_printed(pid: int, pidfd: int, request: dict[str, Any], started: float) -> float | None:
    """Wait for the child to print the text asked for on stderr, then ``kill_after`` seconds, and kill it (unless
    it ended first); kill it too when it has not printed the text within ``printed_within`` seconds."""
    text = request["printed"].encode()
    stderr = Path(request["cwd"]) / STDERR
    give_up = started + request["printed_within"]
    while time.monotonic() < give_up:
        if _contains(stderr, text):
            printed = time.monotonic() - started
            if not select.select([pidfd], [], [], request["kill_after"] or 0.0)[0]:
                os.kill(pid, signal.SIGKILL)
            return printed
        if select.select([pidfd], [], [], LOG_POLL_SECONDS)[0]:
            return time.monotonic() - started if _contains(stderr, text) else None  # ended by itself
    os.kill(pid, signal.SIGKILL)
    return None


def _contains(path: Path, text: bytes) -> bool:
    try:
        return text in path.read_bytes()
    except FileNotFoundError:
        return False  # the child has not redirected its stderr yet


def _has_open(pid: int, pattern: re.Pattern[str]) -> bool:
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:
        return False
    for entry in entries:
        try:
            if pattern.search(str(entry.readlink())):
                return True
        except FileNotFoundError:
            continue  # closed since the listing
    return False


def _child(main: Callable[[], None], request: dict[str, Any]) -> None:
    code = 70  # EX_SOFTWARE, should anything below fail before the command decides
    try:
        folder = Path(request["cwd"])
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, name in ((1, STDOUT), (2, STDERR)):
            target = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(os.devnull)  # noqa: SIM115, PTH123 - the child's stdin for its whole life
        sys.argv = ["nmss-intake", *request["args"]]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
