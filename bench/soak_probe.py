"""bench/soak's memory probe (``--probe``): each daemon runs the real command with a thread that watches its
memory from inside. Bench only: the service never imports it.

Once the daemon has settled it takes a tracemalloc snapshot and counts the live objects by type (as objgraph's
``growth`` does); then every ``REPORT_SECONDS`` it appends to ``probe.txt`` in the daemon's folder what has grown
since: the allocation sites and their call stacks that hold more memory, and the types with more objects.
tracemalloc slows the daemon and its own bookkeeping raises its RSS, so a probed run's RSS figures are not
the soak's: read the growth, not the size.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
import tracemalloc
from collections import Counter
from pathlib import Path
from types import TracebackType

import intake.cli

SETTLE_SECONDS = 120.0
"""When the first snapshot is taken: the same settling time as bench/soak's growth figures."""

REPORT_SECONDS = 300.0
"""How often the growth since the first snapshot is written."""

FRAMES = 12
"""How much of each allocation's call stack is kept: enough to reach the service's own code from a library's."""

TOP = 15

_IGNORED = (
    tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
    tracemalloc.Filter(inclusive=False, filename_pattern=__file__, all_frames=True),
)


def main() -> None:
    """The command, with the probe running beside it."""
    tracemalloc.start(FRAMES)
    logging.getLogger("apscheduler.executors").addHandler(_JobErrors(Path.cwd() / "probe-errors.txt"))
    threading.Thread(target=_watch, args=(Path.cwd() / "probe.txt",), name="soak-probe", daemon=True).start()
    intake.cli.main()


class _JobErrors(logging.Handler):
    """Where each exception that escaped a scheduler job was raised (the service logs only that one did): its
    class and its stack's places, never its text, which may quote a message."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.ERROR)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        lines = []
        while error is not None:
            lines.append(f"{type(error).__module__}.{type(error).__qualname__}")
            lines += [f"    {place}" for place in _places(error.__traceback__)]
            error = error.__cause__ or error.__context__
        with self.path.open("a") as out:
            out.write("\n".join([time.strftime("== %H:%M:%S"), *lines]) + "\n")


def _places(stack: TracebackType | None) -> list[str]:
    # lookup_lines=False: reading the source would fill linecache, the growth being looked for.
    summary = traceback.StackSummary.extract(traceback.walk_tb(stack), lookup_lines=False)
    return [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in summary]


def _snapshot() -> tuple[tracemalloc.Snapshot, Counter[str]]:
    """What is allocated and alive once garbage in reference cycles is gone: the cycles the collector has not
    reached yet would otherwise show as growth."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(_IGNORED)
    return snapshot, Counter(type(item).__qualname__ for item in gc.get_objects())


def _watch(report: Path) -> None:
    started = time.monotonic()
    time.sleep(SETTLE_SECONDS)
    baseline, counts = _snapshot()
    while True:
        time.sleep(REPORT_SECONDS)
        snapshot, now = _snapshot()
        current, peak = tracemalloc.get_traced_memory()
        age = (time.monotonic() - started) / 60
        lines = [
            f"== {age:.1f} min: traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f})",
            "-- allocation sites, growth since settled:",
        ]
        lines += [str(stat) for stat in snapshot.compare_to(baseline, "lineno")[:TOP]]
        lines.append("-- call stacks, growth since settled:")
        for stat in snapshot.compare_to(baseline, "traceback")[:5]:
            lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks:")
            lines += [f"    {line}" for line in stat.traceback.format(most_recent_first=True)]
        lines.append("-- live objects by type, growth since settled:")
        growth = Counter({name: now[name] - counts.get(name, 0) for name in now})
        lines += [f"{name:40} {now[name]:9d} {change:+d}" for name, change in growth.most_common(TOP) if change > 0]
        with report.open("a") as out:
            out.write("\n".join(lines) + "\n\n")
