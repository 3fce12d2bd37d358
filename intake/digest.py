"""The team's working-day digest: queue it in the outbox once a day (its content is ``views.digest_content``).

``queue_digest_if_due`` is what the scheduler calls, as often as it likes: on a working day, from the
configured time (08:30 Europe/London by default), it queues that day's digest under the key
``digest-YYYY-MM-DD`` unless a row with that key exists. The database, not the scheduler, says whether it went,
so a missed tick or a restart sends it late rather than never, and a second tick never sends it twice.

A working day whose digest was never queued (the service was down from digest time to midnight) is carried by
the next digest, in a dated section of its own: that digest looks back for the last one queued. Both days go
out in one email under the later day's key, so the earlier day is sent once, and never on its own afterwards.
"""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy.exc import IntegrityError

from config.forms import load_form_definitions
from config.settings import Settings
from intake.unit_of_work import UnitOfWork
from intake.views import digest_content
from notifier.digest import Digest, build_digest
from rules.calendar import is_working_day, previous_working_day

log = structlog.get_logger("intake.digest")

LOOK_BACK_WORKING_DAYS = 10
"""How far back a digest looks for the last one queued. With none queued within it (a new install, or a service
off for weeks) it covers its own day only, as the first digest does."""


def digest_key(day: dt.date) -> str:
    """The outbox key of the digest for ``day``: ``digest-2026-11-30``."""
    return f"digest-{day.isoformat()}"


def digest_day(now: dt.datetime, send_at: dt.time, tz: dt.tzinfo) -> dt.date | None:
    """The day whose digest is due at ``now``: today where the team works, if it is a working day and ``send_at``
    has passed there; else None."""
    local = now.astimezone(tz)
    if is_working_day(local.date()) and local.time() >= send_at:
        return local.date()
    return None


def queue_digest_if_due(uow: UnitOfWork, settings: Settings, *, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Queue today's digest in the outbox if it is due at ``now`` and not queued yet; returns its key if queued.

    Raises ``notifier.digest.InsecureRecipient`` when the team's addresses are missing or not on secure
    domains: nothing is queued, so the next tick tries again once the settings are fixed.
    """
    day = digest_day(now, settings.digest.send_at, tz)
    if day is None:
        return None
    return queue_digest(uow, settings, day=day, now=now, tz=tz)


def missed_days(uow: UnitOfWork, day: dt.date) -> tuple[dt.date, ...]:
    """The working days before ``day`` since the last digest queued, oldest first: their digests were never sent.

    Empty when the previous working day's digest was queued, or when none was within ``LOOK_BACK_WORKING_DAYS``.
    """
    missed: list[dt.date] = []
    earlier = previous_working_day(day)
    for _ in range(LOOK_BACK_WORKING_DAYS):
        if uow.outbox.has(digest_key(earlier)):
            return tuple(reversed(missed))
        missed.append(earlier)
        earlier = previous_working_day(earlier)
    return ()


def digest_for(uow: UnitOfWork, settings: Settings, *, day: dt.date, tz: dt.tzinfo) -> Digest:
    """What the digest for ``day`` says, as queued and as ``digest --print`` shows it: with the working days
    before it whose digest was never sent, and forms by their printed names."""
    definitions = load_form_definitions(settings.forms_dir)
    return digest_content(
        uow,
        day,
        send_at=settings.digest.send_at,
        tz=tz,
        incomplete_days=settings.digest.incomplete_days,
        form_names={form.kind: form.name for form in definitions},
        missed=missed_days(uow, day),
    )


def queue_digest(uow: UnitOfWork, settings: Settings, *, day: dt.date, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Queue the digest for ``day`` unless it is queued already; returns its key if this call queued it."""
    key = digest_key(day)
    if uow.outbox.has(key):
        return None
    digest = digest_for(uow, settings, day=day, tz=tz)
    message = build_digest(
        digest,
        recipients=settings.service.team_addresses,
        service=settings.service,
        secure_domains=settings.service.secure_domains,
        now=now,
    )
    try:
        uow.outbox.enqueue(key, "digest", message, now=now)
        uow.commit()
    except IntegrityError:
        # Another process queued the same day's digest between our check and our insert: theirs stands.
        return None
    # Counts only (the log's safe keys): the digest itself names patients.
    count = len(digest.referrals) + len(digest.review) + len(digest.calls)
    log.info("digest_queued", kind="digest", count=count, missed=len(digest.missed))
    return key
