"""Solo attempts: a message that was being decided when the service died is decided again by itself, in a
child process, before the crash is held against it.

A crash of the service (kill -9, the OOM killer, a power cut, a deployment) hits whichever message happens to
be in flight, and a kill soon after a start hits the first message of the run again and again. Counting every
such crash against the message in flight quarantined good referrals after three unrelated kills. So a message
found in flight after a crash is first decided alone in a child process, with no side effects: read, every
document parsed in workers of its own under the usual limits, the rules applied, as ``check`` does. The
service only waits for the child:

- the child finishes: the message cannot kill the process that decides it, so it is decided as usual;
- the child dies, or runs past its time limit: nothing else was happening in that process, so
  the crash is the message's own, and counts against it (``MessageRecord.solo_crashes``);
- the service itself is killed while it waits: nothing is counted, and the child ends too.

Only the pipeline records anything; this module starts the child and says how it ended.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Final, Literal, Protocol

from config.forms import FormDefinitions
from config.settings import LimitSettings, ReplyLimitSettings, ServiceSettings
from intake.assess import assess, read_message, triage_rules
from intake.isolation import ParsePool, worker_context
from rules.decision import Decision, Policy

SOLO_MARGIN_SECONDS: Final = 300.0
"""How long a solo attempt may take beyond the message's time budget (``limits.message_budget_seconds``, which
bounds its documents): for reading it and starting the child on a busy machine. A message still undecided
then would hold the service as surely as a crash."""

SoloEnd = Literal["finished", "crashed", "hung"]
"""How a solo attempt ended: the decision finished (an exception in it counts as finished: the service turns
one into a quarantined message), the child died, or it ran past its time limit and was killed."""


@dataclass(frozen=True)
class SoloJob:
    """What the child needs to decide one message as the service would, sent to it by pickling."""

    raw: bytes
    definitions: FormDefinitions
    service: ServiceSettings
    limits: LimitSettings
    received_at: dt.datetime
    today: dt.date


def decide_alone(job: SoloJob) -> Decision:
    """Decide ``job``'s message as ``check`` does on an empty store, with its documents parsed in workers of the
    child's own: the store changes nothing that could crash a process, and the child must not write to it."""
    # The child has one thread, so it may fork its workers directly rather than through a fork server.
    pool = ParsePool(
        timeout_seconds=job.limits.parse_timeout_seconds,
        memory_mb=job.limits.parse_memory_mb,
        workers=job.limits.parse_workers,
        context=multiprocessing.get_context("fork"),
    )
    policy = Policy(
        definitions=job.definitions,
        service=job.service,
        reply_limits=ReplyLimitSettings(),
        triage=triage_rules(job.service.triage_file),
    )
    with pool:
        read = read_message(
            job.raw,
            received_at=job.received_at,
            definitions=job.definitions,
            limits=job.limits,
            today=job.today,
            pool=pool,
        )
        return assess(None, read, policy, today=job.today, now=job.received_at)


class SoloRunner(Protocol):
    """**Protocol:** something that decides a message alone and says how that ended (the pipeline's service)."""

    def attempt(self, job: SoloJob) -> SoloEnd: ...


class SoloAttempts:
    """Starts solo attempts in child processes. ``decide`` is what the child runs (a module-level function, so
    that it can be sent to the child); tests pass one that dies."""

    def __init__(
        self, *, decide: Callable[[SoloJob], object] = decide_alone, time_limit_seconds: float | None = None
    ) -> None:
        self.decide = decide
        self.time_limit_seconds = time_limit_seconds

    def attempt(self, job: SoloJob) -> SoloEnd:
        """Decide ``job``'s message alone in a child process and say how that ended."""
        limit = self.time_limit_seconds or job.limits.message_budget_seconds + SOLO_MARGIN_SECONDS
        process = worker_context().Process(  # type: ignore[attr-defined]
            target=_child, args=(self.decide, job, limit), name="nmss-solo"
        )
        process.start()
        try:
            process.join(limit)
            if process.is_alive():
                process.kill()
                process.join()
                return "hung"
            return "finished" if process.exitcode == 0 else "crashed"
        finally:
            with contextlib.suppress(ValueError):
                process.close()


def _child(decide: Callable[[SoloJob], object], job: SoloJob, time_limit_seconds: float) -> None:
    service = multiprocessing.parent_process()
    if service is not None:
        threading.Thread(target=_die_with, args=(service,), name="nmss-solo-service", daemon=True).start()
    # Never outlive the time limit, even with no service left to enforce it.
    signal.alarm(math.ceil(time_limit_seconds) + 5)
    # Nothing the child prints reaches the service's logs: a third-party message could quote the mail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    logging.disable(logging.CRITICAL)
    # An exception is an ending the service handles (the message is quarantined); only dying counts.
    with contextlib.suppress(Exception):
        decide(job)


def _die_with(service: BaseProcess) -> None:
    """End the child as soon as the service that started it is gone (as the parse workers do): a solo attempt
    for a service that was killed is moot, and would take a core from the service that restarts."""
    service.join()
    os._exit(1)
