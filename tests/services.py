"""The pipeline's services on a real database and a file outbox, as the integration tests build them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from config.forms import load_form_definitions
from config.settings import LimitSettings, ServiceSettings
from intake.migrate import upgrade
from intake.pipeline import Clock, Services
from notifier.senders.outbox import FileOutbox


def pipeline_services(
    engine: Engine,
    outbox: Path,
    *,
    clock: Clock = lambda: dt.datetime.now(dt.UTC),
    limits: LimitSettings | None = None,
    timezone: dt.tzinfo = dt.UTC,
) -> Services:
    """Services over ``engine`` (migrated here) that write replies as files into ``outbox``."""
    upgrade(engine)
    return Services(
        engine=engine,
        sender=FileOutbox(outbox),
        definitions=load_form_definitions(),
        service=ServiceSettings(),
        limits=limits or LimitSettings(),
        timezone=timezone,
        clock=clock,
    )
