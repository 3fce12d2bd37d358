"""Faults injected through the services the pipeline is given: a parse pool that fails on chosen messages.

The pipeline parses every document in the ``ParsePool`` its ``Services`` name; a test hands it this pool
instead of patching the pipeline's internals, so the fault arrives where a hostile file's would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from config.forms import FormDefinitions
from config.settings import LimitSettings
from intake.isolation import ParsePool, default_pool
from parsers.mail import read_mail
from parsers.types import Document


class FaultyPool(ParsePool):
    """The real worker pool, except that parsing a message's documents raises ``error()`` while ``fails``
    says so; ``heal()`` stands for the bug being fixed."""

    def __init__(self, error: Callable[[], BaseException], *, limits: LimitSettings | None = None) -> None:
        self.inner = default_pool(limits or LimitSettings())
        self.error = error
        self.failing: set[bytes] | None = None  # attachment bytes that fail; None: every message fails
        self.calls = 0

    @classmethod
    def on_messages(cls, *raws: bytes, error: Callable[[], BaseException]) -> FaultyPool:
        """A pool that fails on the documents of these messages only."""
        pool = cls(error)
        pool.failing = {a.data for raw in raws for a in read_mail(raw).attachments}
        return pool

    def heal(self) -> None:
        """From now on, parse everything."""
        self.error = lambda: AssertionError("healed")
        self.failing = set()

    def parse_all(
        self,
        files: Sequence[tuple[bytes, str]],
        definitions: FormDefinitions,
        *,
        today: dt.date,
        deadline: float | None = None,
    ) -> list[Document]:
        self.calls += 1
        if self.failing is None or any(data in self.failing for data, _ in files):
            raise self.error()
        return self.inner.parse_all(files, definitions, today=today, deadline=deadline)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        """Messages are read by the real pool."""
        return self.inner.read(*args, **kwargs)

    def open_all(self, *args: Any, **kwargs: Any) -> Any:
        """Containers are opened by the real pool."""
        return self.inner.open_all(*args, **kwargs)

    def close(self) -> None:
        """The process-wide pool is shared: leave it running."""
