"""Parsing in worker processes: a hostile file can use up a worker's time or memory, never the service's.

:class:`ParsePool` runs the untrusted decoders in a few long-lived child processes: :func:`parsers.mail.read_mail`
to read a message itself (``read``: its headers and MIME structure, which the ``email`` package can take minutes
over), :func:`parsers.parse_document` for a document, :func:`parsers.containers.unpack` to open an Outlook item
or a ``winmail.dat`` (``open_all``), :func:`parsers.pictures.render_page` to draw a page of a PDF for the
workspace (``render``), :func:`parsers.pages.read_pages` to read a form photographed page by page
(``read_pages``).
Each child caps its own address space (``RLIMIT_AS``) at start; the parent gives each job a time limit,
counted from when its worker has started and cut short by the message's deadline. A job that runs past the
limit, or kills its worker (out of memory, a crash in a C library), comes back as
``Unreadable(filename, "timeout")`` or ``Unreadable(filename, "too_large")`` and the worker is replaced; the
next job goes on as usual. Workers are reused, so a document costs a round trip through a pipe, not a process
start.

Workers start from a fork server that has imported the parsers already (pdfplumber and pdfminer take a large
part of a cold start), not by forking the service itself, whose threads and database connections a fork would
copy in an unknown state.

``default_pool(limits)`` is the pool the pipeline and ``check`` share: created on first use, replaced when the
limits change, shut down at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import functools
import logging
import multiprocessing
import os
import resource
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeGuard, TypeVar

import structlog

from config.forms import FormDefinitions
from parsers import is_image, parse_document
from parsers.mail import Attachment, Mail, read_headers, read_mail
from parsers.types import PICTURE_WIDTH, Document, Form, PagePicture, PagesRead, Unreadable

if TYPE_CHECKING:
    # Only a type here: the fork server imports this module, and pydantic-settings would add half a second
    # to the start of every `parse`, in a process that never reads settings.
    from config.settings import LimitSettings

_STOP_GRACE_SECONDS: Final = 2.0
"""How long a worker asked to stop may take before it is killed."""

_HEAVY_SHARE: Final = 0.5
"""A document whose parse took the worker's resident memory past this share of the cap is a heavy one."""

_OUT_OF_MEMORY_EXIT: Final = 75
"""A worker's exit code when it ran out of memory outside a parse (taking in a job too big for its cap)."""

_STARTED: Final = "started"
"""A fresh worker's first message: its start-up is over and a document's time limit can begin."""

_START_UP_SECONDS: Final = 60.0
"""How long a fresh worker may take to start (multiprocessing runs the service's main script again in it,
which takes seconds on a busy machine). Not charged to the document, only to the message's budget."""

_HEADERS_BYTES: Final = 1024 * 1024
"""How much of a message too big to read is sent for its headers alone: real header blocks take kilobytes."""

log = structlog.get_logger("intake.isolation")

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Job:
    data: bytes
    filename: str
    today: dt.date
    definitions_key: int
    definitions: FormDefinitions | None  # None: the worker has these definitions already


@dataclass(frozen=True)
class _Open:
    """A container to open: the worker sends back what ``unpack`` finds in it."""

    container: Attachment
    max_bytes: int


@dataclass(frozen=True)
class _Read:
    """A raw message to read: the worker sends back the ``Mail`` that ``read_mail`` makes of it."""

    raw: bytes
    max_attachment_bytes: int
    headers_only: bool = False  # the whole message did not fit under the memory cap: its headers, at least


@dataclass(frozen=True)
class _Parse:
    """A document to parse, as the parent holds it until a worker takes it."""

    data: bytes
    filename: str
    definitions: FormDefinitions
    today: dt.date


@dataclass(frozen=True)
class _Pages:
    """Pictures to read as one document's pages: the worker sends back the ``PagesRead`` it makes of them."""

    pictures: tuple[bytes, ...]
    filename: str
    definitions: FormDefinitions
    today: dt.date


@dataclass(frozen=True)
class _Render:
    """A page of a PDF to draw: the worker sends back the ``PagePicture`` (or ``Unreadable``) it makes."""

    data: bytes
    page: int
    width: int


_Request = _Parse | _Open | _Read | _Render | _Pages
"""A job as the parent holds it until a worker takes it."""

Opened = tuple[Attachment, ...] | Unreadable
"""What opening a container gave: the files worth reading inside, or why it could not be opened in time."""

MailRead = Mail | Unreadable
"""What reading a message gave: its ``Mail``, or, when reading it ran past the time limit or the memory cap,
``Unreadable`` with no file name and the problem ``timeout`` or ``too_large``."""


# -- the worker process -------------------------------------------------------------------------------------


def _worker_main(conn: Connection, memory_bytes: int) -> None:
    """A worker's life: cap memory, then do one job per message until told to stop."""
    # Third-party parsers log warnings that can quote file contents (and tnefparse one per loop, billions of
    # times on a hostile winmail.dat); a worker prints nothing. Its stdout and
    # stderr go nowhere either: a traceback (multiprocessing prints one for any error that escapes), a C
    # library's complaint or the interpreter's own "out of memory" would otherwise land in the service's log.
    logging.disable(logging.CRITICAL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _one_malloc_arena()  # before the watcher thread below allocates an arena of its own
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="nmss-parse-parent", daemon=True).start()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    cached: tuple[int, FormDefinitions] | None = None
    conn.send(_STARTED)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            # The job itself does not fit under the cap; the exit code tells the parent so.
            os._exit(_OUT_OF_MEMORY_EXIT)
        if isinstance(job, _Job):
            if job.definitions is not None:
                cached = (job.definitions_key, job.definitions)
            if cached is None or cached[0] != job.definitions_key:
                return  # the parent's bookkeeping is wrong: exiting makes it start a fresh worker
            keep_on = _parse(conn, job, cached[1], cap)
        elif isinstance(job, _Open):
            keep_on = _open(conn, job, cap)
        elif isinstance(job, _Read):
            keep_on = _read(conn, job, cap)
        elif isinstance(job, _Render):
            keep_on = _render(conn, job, cap)
        elif isinstance(job, _Pages):
            keep_on = _pages(conn, job, cap)
        else:
            return
        if not keep_on:
            return  # retire, handing the memory back; the pool starts a fresh worker when needed


_M_ARENA_MAX: Final = -8
"""glibc's ``mallopt`` parameter for the number of malloc arenas (malloc.h)."""


def _one_malloc_arena() -> None:
    """Have glibc's malloc keep one arena. Each thread that allocates gets an arena of its own, reserving 64 MB
    of address space: the decoders' threads (libheif's for a phone's HEIC photo, the worker's own watcher) took
    enough of the memory cap for OCR to run out of it. Elsewhere than glibc this does nothing."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        return


def _exit_with(parent: BaseProcess) -> None:
    """End the worker as soon as the service is gone. The service kills a worker that runs past its time
    limit; killed itself (kill -9, out of memory), it cannot, and a worker stuck on a hostile file would run on
    orphaned (some 25 minutes for the 21-byte winmail.dat), taking a core from the service that restarts."""
    parent.join()
    os._exit(1)


def _answer(
    conn: Connection,
    cap: int,
    work: Callable[[], _T],
    filename: str,
    settle: Callable[[_T, bool], object] | None = None,
) -> bool:
    """Do one job's ``work`` and send the parent what came of it, with whether it was heavy; False when the
    worker should retire: the work was heavy, or ran out of memory (then ``Unreadable(filename, "too_large")``
    is sent). ``settle`` revises the result once it is known to be heavy or not."""
    _reset_peak_memory()
    try:
        result: _T | None = work()
    except MemoryError:
        result = None  # sent below, once the failed work's frames (and their memory) are released
    if result is None:
        conn.send((Unreadable(filename, "too_large"), True))
        return False
    heavy = _heavy(cap)
    conn.send((settle(result, heavy) if settle is not None else result, heavy))
    return not heavy


def _parse(conn: Connection, job: _Job, definitions: FormDefinitions, cap: int) -> bool:
    """Parse one document and send what ``parse_document`` says of it; False when the worker should retire."""

    def settle(document: Document, heavy: bool) -> Document:
        if heavy and isinstance(document, Unreadable) and document.problem == "corrupt":
            # The parsers turn a MemoryError into "corrupt" like any other failure; a parse that filled
            # the worker's memory and then failed most likely ran out of it.
            return Unreadable(job.filename, "too_large", document.kind)
        return document

    work = functools.partial(parse_document, job.data, job.filename, definitions, today=job.today)
    return _answer(conn, cap, work, job.filename, settle)


def _open(conn: Connection, job: _Open, cap: int) -> bool:
    """Open one container and send what is in it; False when the worker should retire."""
    # Imported here, as the parsers import their readers: extract-msg and tnefparse are slow to import and
    # only a worker uses them (the fork server preloads them, so a worker has them already).
    from parsers.containers import unpack

    work = functools.partial(unpack, job.container, max_bytes=job.max_bytes)
    return _answer(conn, cap, work, job.container.filename)


def _read(conn: Connection, job: _Read, cap: int) -> bool:
    """Read one message and send its ``Mail``; False when the worker should retire."""
    if job.headers_only:
        return _answer(conn, cap, functools.partial(read_headers, job.raw), "")
    work = functools.partial(read_mail, job.raw, max_attachment_bytes=job.max_attachment_bytes)
    return _answer(conn, cap, work, "")


def _render(conn: Connection, job: _Render, cap: int) -> bool:
    """Draw one page and send its picture; False when the worker should retire."""
    from parsers.pictures import render_page  # pdfium is loaded by workers only (the fork server preloads it)

    return _answer(conn, cap, functools.partial(render_page, job.data, job.page, width=job.width), "")


def _pages(conn: Connection, job: _Pages, cap: int) -> bool:
    """Read pictures as one document's pages and send what came of it; False when the worker should retire."""
    from parsers.pages import read_pages

    work = functools.partial(read_pages, job.pictures, job.filename, job.definitions, today=job.today)
    return _answer(conn, cap, work, job.filename)


def _heavy(cap: int) -> bool:
    """Whether the last job took the worker's resident memory past ``_HEAVY_SHARE`` of its cap."""
    peak = _peak_memory()
    return peak is not None and peak >= cap * _HEAVY_SHARE


def _reset_peak_memory() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:  # noqa: PTH123
        clear_refs.write("5")  # resets the peak resident set size (Linux 4.0+)


def _peak_memory() -> int | None:
    """Peak resident memory in bytes since the last reset, or None where /proc does not say."""
    try:
        with open("/proc/self/status") as status:  # noqa: PTH123 - a procfs file
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# -- the parent's side --------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, context: BaseContext, memory_bytes: int) -> None:
        parent_end, child_end = context.Pipe()
        process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child_end, memory_bytes), name="nmss-parse", daemon=True
        )
        process.start()
        child_end.close()
        self.conn = parent_end
        self.process = process
        self.definitions_key: int | None = None
        self.started = False

    def take_started(self) -> bool:
        """Read the worker's word that it has started; False when it died instead."""
        try:
            self.started = self.conn.recv() == _STARTED
        except (EOFError, OSError):
            return False
        return self.started

    def send(self, request: _Request) -> None:
        if isinstance(request, _Open | _Read | _Render | _Pages):
            self.conn.send(request)
            return
        key = id(request.definitions)
        definitions = None if key == self.definitions_key else request.definitions
        self.conn.send(_Job(request.data, request.filename, request.today, key, definitions))
        self.definitions_key = key

    def stop(self, *, kill: bool = False) -> None:
        if not kill and self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(_STOP_GRACE_SECONDS)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_STOP_GRACE_SECONDS)
        self.conn.close()
        # ValueError: still running after SIGKILL and the grace period; the OS reaps it with us.
        with contextlib.suppress(ValueError):
            self.process.close()


class WorkerUnavailable(RuntimeError):
    """Raised when a fresh worker process dies before it can take a document: the service, not the file, is
    at fault, so the message is not judged on it."""


@dataclass
class _Running:
    worker: _Worker
    index: int
    request: _Request
    deadline: float  # when the worker is stopped: the end of its start-up, then of the job's time
    cutoff: float | None  # the message's deadline

    @property
    def filename(self) -> str:
        return _filename(self.request)


def _filename(request: _Request) -> str:
    if isinstance(request, _Read | _Render):
        return ""  # a message or a page has no file name (nothing from its headers is known before it is read)
    return request.container.filename if isinstance(request, _Open) else request.filename


def _earliest(limit: float, cutoff: float | None) -> float:
    return limit if cutoff is None else min(limit, cutoff)


class ParsePool:
    """Worker processes that parse documents under a time limit and a memory cap.

    Start-up is lazy: the first document starts the first worker. ``close()`` (or leaving a ``with`` block)
    stops them. One thread at a time uses the pool; others wait their turn.
    """

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        memory_mb: int = 512,
        workers: int = 1,
        context: BaseContext | None = None,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.memory_bytes = memory_mb * 1024 * 1024
        self.size = max(1, workers)
        # A single-threaded child of the service (a solo attempt, intake/solo.py) may fork its workers directly.
        self._context = context or _context()
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_limits(cls, limits: LimitSettings) -> ParsePool:
        """A pool with the time limit, memory cap and number of workers in ``limits``."""
        return cls(
            timeout_seconds=limits.parse_timeout_seconds, memory_mb=limits.parse_memory_mb, workers=limits.parse_workers
        )

    def parse(self, data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
        """What ``parse_document`` says about one file, or why a worker could not finish it."""
        return self.parse_all([(data, filename)], definitions, today=today)[0]

    def parse_all(
        self,
        files: Sequence[tuple[bytes, str]],
        definitions: FormDefinitions,
        *,
        today: dt.date,
        deadline: float | None = None,
    ) -> list[Document]:
        """Each ``(data, filename)`` parsed, in order; up to ``size`` at once, each within the time limit.

        ``deadline`` (a ``time.monotonic()`` instant: the message's budget) cuts every document's limit short;
        a document not started by then comes back "timeout" without reaching a worker.
        """
        requests = [_Parse(data, filename, definitions, today) for data, filename in files]
        results = self._run(requests, deadline)
        # OCR needs most of a worker's memory cap: a picture that overflowed a worker which had read other
        # files before (its memory fragmented, more libraries loaded) is read once more by a fresh worker.
        again = [
            i
            for i, (request, result) in enumerate(zip(requests, results, strict=True))
            if isinstance(result, Unreadable) and result.problem == "too_large" and is_image(request.data)
        ]
        if again:
            self._retire_idle()
            for index, result in zip(again, self._run([requests[i] for i in again], deadline), strict=True):
                results[index] = result
        return [r if isinstance(r, Form | Unreadable) else Unreadable("", "corrupt") for r in results]

    def _retire_idle(self) -> None:
        with self._lock:
            while self._idle:
                self._idle.pop().stop()

    def open_all(
        self, containers: Sequence[Attachment], *, max_bytes: int, deadline: float | None = None
    ) -> list[Opened]:
        """Each Outlook item or ``winmail.dat`` opened, in order, as ``parsers.containers.unpack`` opens it
        (files over ``max_bytes`` come back ``too_large``): up to ``size`` at once, each under the time limit
        and memory cap of a document, and ``deadline``. One that runs past them is "timeout" or "too_large"."""
        results = self._run([_Open(container, max_bytes) for container in containers], deadline)
        return [r if _is_opened(r) else Unreadable("", "corrupt") for r in results]

    def read(self, raw: bytes, *, max_attachment_bytes: int, deadline: float | None = None) -> MailRead:
        """``raw`` read as ``parsers.mail.read_mail`` reads it, in a worker under the time limit and memory cap
        of a document, cut short by ``deadline`` (the message's budget, which its reading is the first part of).

        A message too big to read under the memory cap (a large scanned form, say) is read again for its headers
        alone (``parsers.mail.read_headers``), so that the sender can be told the team will check it. A message
        whose reading runs past the time limit, or whose headers alone overflow the cap, is
        ``Unreadable("", "timeout")`` or ``Unreadable("", "too_large")``: nothing is known about it, not even who
        sent it.
        """
        [result] = self._run([_Read(raw, max_attachment_bytes)], deadline)
        if isinstance(result, Unreadable) and result.problem == "too_large":
            # Only the start goes: the whole message again would not fit a worker that has the cap for its own.
            head = raw[:_HEADERS_BYTES]
            [result] = self._run([_Read(head, max_attachment_bytes, headers_only=True)], deadline)
        return result if isinstance(result, Mail | Unreadable) else Unreadable("", "too_large")

    def read_pages(
        self,
        pictures: Sequence[bytes],
        filename: str,
        definitions: FormDefinitions,
        *,
        today: dt.date,
        deadline: float | None = None,
    ) -> PagesRead:
        """``pictures`` read as one document's pages, as ``parsers.pages.read_pages`` reads them, in a worker under
        a document's time limit and memory cap, cut short by ``deadline``. Past them, ``PagesRead.document`` is
        ``Unreadable`` "timeout" or "too_large" (with no PDF). A reading that overflowed a worker which had read
        other files is made once more by a fresh one, as a single picture's is."""
        request = _Pages(tuple(pictures), filename, definitions, today)
        [result] = self._run([request], deadline)
        if isinstance(result, Unreadable) and result.problem == "too_large":
            self._retire_idle()
            [result] = self._run([request], deadline)
        if isinstance(result, PagesRead):
            return result
        return PagesRead(result if isinstance(result, Unreadable) else Unreadable(filename, "corrupt"))

    def render(self, data: bytes, page: int, *, width: int = PICTURE_WIDTH) -> PagePicture | Unreadable:
        """Page ``page`` of the PDF ``data`` drawn as ``parsers.pictures.render_page`` draws it, in a worker under
        the time limit and memory cap of a document; past them, ``Unreadable`` "timeout" or "too_large"."""
        [result] = self._run([_Render(data, page, width)], None)
        return result if isinstance(result, PagePicture | Unreadable) else Unreadable("", "corrupt")

    def _run(self, requests: Sequence[_Request], deadline: float | None) -> list[object]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the parse pool is closed")
            results: list[object] = [None] * len(requests)
            waiting = deque(enumerate(requests))
            running: dict[int, _Running] = {}  # keyed by the worker's process sentinel
            unstarted = 0
            while waiting or running:
                while waiting and len(running) < self.size:
                    index, request = waiting.popleft()
                    if deadline is not None and time.monotonic() >= deadline:
                        results[index] = Unreadable(_filename(request), "timeout")
                        unstarted += 1
                        continue
                    worker = self._start(request)
                    if worker is None:
                        log.warning("parse_worker_out_of_memory")
                        results[index] = Unreadable(_filename(request), "too_large")
                        continue
                    # A fresh worker's start-up is not the job's time: its clock starts once the worker
                    # says it has started (see _collect).
                    limit = time.monotonic() + (self.timeout_seconds if worker.started else _START_UP_SECONDS)
                    running[worker.process.sentinel] = _Running(
                        worker, index, request, _earliest(limit, deadline), deadline
                    )
                if running:
                    self._collect(running, results)
            if unstarted:
                log.warning("message_budget_spent", skipped=unstarted)
            return results

    def _start(self, request: _Request) -> _Worker | None:
        """A worker that has taken the job, or None when the job alone overflows a fresh worker's memory cap."""
        worker = self._idle.pop() if self._idle else _Worker(self._context, self.memory_bytes)
        try:
            worker.send(request)
        except (OSError, ValueError):
            # It died while idle (killed from outside, say), or could not take in this much: a fresh one tries.
            worker.stop(kill=True)
            worker = _Worker(self._context, self.memory_bytes)
            try:
                worker.send(request)
            except (OSError, ValueError) as exc:
                worker.process.join(_STOP_GRACE_SECONDS)
                out_of_memory = worker.process.exitcode == _OUT_OF_MEMORY_EXIT
                worker.stop(kill=True)
                if out_of_memory:
                    return None
                raise WorkerUnavailable("a parse worker died as it started") from exc
        return worker

    def _collect(self, running: dict[int, _Running], results: list[object]) -> None:
        """Wait for the first result or deadline, and record what finished."""
        nearest = min(r.deadline for r in running.values())
        handles: list[Any] = [r.worker.conn for r in running.values()] + list(running)
        ready = set(wait(handles, timeout=max(0.0, nearest - time.monotonic())))
        now = time.monotonic()
        for sentinel, item in list(running.items()):
            worker = item.worker
            if not worker.started and worker.conn in ready and worker.take_started():
                item.deadline = _earliest(now + self.timeout_seconds, item.cutoff)
                continue
            # A result already in the pipe counts, however late this thread got round to looking (a busy
            # machine): only a worker still at work when its time is up is stopped.
            if (
                worker.conn in ready
                or sentinel in ready
                or (worker.started and now >= item.deadline and worker.conn.poll())
            ):
                del running[sentinel]
                results[item.index] = self._receive(item)
            elif now >= item.deadline:
                del running[sentinel]
                worker.stop(kill=True)
                results[item.index] = Unreadable(item.filename, "timeout")

    def _receive(self, item: _Running) -> object:
        worker = item.worker
        try:
            result, retiring = worker.conn.recv() if worker.conn.poll() else (None, True)
        except (EOFError, OSError):
            result, retiring = None, True
        expected = _expected(item.request, result)
        if not expected:
            # The worker died with the job: the memory cap (RLIMIT_AS) is the usual reason.
            result, retiring = Unreadable(item.filename, "too_large"), True
        if retiring:
            worker.stop()
            if isinstance(result, Unreadable) and result.problem == "too_large":
                log.warning("parse_worker_out_of_memory")  # the file's name stays out of the log
        else:
            self._idle.append(worker)
        return result

    def close(self) -> None:
        """Stop every worker. Safe to call twice; the pool cannot be used afterwards."""
        with self._lock:
            self._closed = True
            while self._idle:
                self._idle.pop().stop()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _expected(request: _Request, result: object) -> bool:
    """Whether ``result`` is what a worker sends back for ``request``."""
    if isinstance(request, _Open):
        return _is_opened(result)
    if isinstance(request, _Read):
        return isinstance(result, Mail | Unreadable)
    if isinstance(request, _Render):
        return isinstance(result, PagePicture | Unreadable)
    if isinstance(request, _Pages):
        return isinstance(result, PagesRead | Unreadable)
    return isinstance(result, Form | Unreadable)


def _is_opened(result: object) -> TypeGuard[Opened]:
    if isinstance(result, Unreadable):
        return True
    return isinstance(result, tuple) and all(isinstance(a, Attachment) for a in result)


def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # The server imports these once; every worker forked from it has them already.
        context.set_forkserver_preload(
            ["intake.isolation", "parsers.pdf", "parsers.docx", "parsers.containers", "parsers.pictures", "pdfplumber"]
        )
        return context
    return multiprocessing.get_context("spawn")


def worker_context() -> BaseContext:
    """How the service starts an isolated process: from a fork server that has imported the parsers, never by
    forking the service itself."""
    return _context()


# -- the shared pool ----------------------------------------------------------------------------------------

_default: ParsePool | None = None
_default_key: tuple[float, int, int] | None = None
_default_lock = threading.Lock()


def default_pool(limits: LimitSettings) -> ParsePool:
    """The process-wide pool for these limits: created on first use, replaced when the limits change."""
    global _default, _default_key
    key = (limits.parse_timeout_seconds, limits.parse_memory_mb, limits.parse_workers)
    with _default_lock:
        if _default is None or _default_key != key:
            if _default is not None:
                _default.close()
            _default, _default_key = ParsePool.from_limits(limits), key
        return _default


def shutdown_default_pool() -> None:
    """Stop the shared pool's workers (at exit, or when a test wants a fresh one)."""
    global _default, _default_key
    with _default_lock:
        if _default is not None:
            _default.close()
        _default, _default_key = None, None


atexit.register(shutdown_default_pool)
