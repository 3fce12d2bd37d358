"""The daemon's jobs with the clock under control: the digest at 08:30 London on working days, once; reminders
caught up after downtime. Time is moved with time-machine; the jobs run as the scheduler registered them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session, select

from config.settings import MailboxSettings, OutgoingSettings, ServiceSettings, Settings
from intake.bootstrap import App, bootstrap
from intake.commands import record_assessment
from intake.daemon import add_jobs, new_scheduler, poll_once, send_pending
from intake.logs import configure_logging
from intake.mailbox import IncomingMail, Mailbox, MailRef
from intake.migrate import upgrade
from intake.store import FollowUpRecord, MessageRecord, OutboxRecord, ReferralRecord, make_engine
from intake.unit_of_work import UnitOfWork
from notifier.sender import Sender
from tests.conftest import _free_port

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[App]:
    monkeypatch.chdir(tmp_path)
    settings = Settings(
        database_url=database_url,  # type: ignore[arg-type]
        state_dir=tmp_path / "var",
        mailbox=MailboxSettings(path=tmp_path / "mailbox"),
        outgoing=OutgoingSettings(outbox_path=tmp_path / "outbox"),
        service=ServiceSettings(team_addresses=["nmss.team@nhs.net"]),
    )
    built = bootstrap(settings)
    upgrade(built.engine)
    yield built
    built.engine.dispose()


def jobs_of(app: App) -> dict[str, Callable[[], None]]:
    scheduler = BackgroundScheduler(timezone=LONDON)
    add_jobs(scheduler, app)
    return {job.id: _bound(job.func, job.args) for job in scheduler.get_jobs()}


def _bound(function: Callable[..., None], args: tuple[object, ...]) -> Callable[[], None]:
    return lambda: function(*args)


def run_scheduler(app: App, start: dt.datetime, end: dt.datetime, *, every: int = 300) -> None:
    """Run the digest, reminder and outbox jobs every ``every`` seconds of London time from ``start`` to ``end``.

    Ticks are steps in UTC, so the hour the clocks go back is lived twice and the hour they go forward never,
    as a real scheduler lives them.
    """
    jobs = jobs_of(app)
    now = start.astimezone(dt.UTC)
    with time_machine.travel(now, tick=False) as traveller:
        while now <= end.astimezone(dt.UTC):
            traveller.move_to(now)
            for name in ("digest", "reminders", "outbox"):
                jobs[name]()
            now += dt.timedelta(seconds=every)


def digests(app: App) -> dict[str, dt.datetime]:
    """Each queued digest's key and when it was queued, in London time."""
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxRecord).where(OutboxRecord.kind == "digest")).all()
        return {row.key: row.created_at.astimezone(LONDON) for row in rows}


def reminders(app: App) -> list[tuple[str, dt.datetime, str]]:
    with Session(app.engine) as session:
        rows = session.exec(select(OutboxRecord).where(OutboxRecord.kind == "followup_reminder")).all()
        return [(row.key, row.created_at.astimezone(LONDON), row.state) for row in rows]


def add_referral(app: App, reference: str, received: dt.datetime) -> None:
    with Session(app.engine) as session:
        message = MessageRecord(
            source="intake",
            folder="INBOX",
            uid=reference,
            sha256=reference,
            size=1,
            received_at=received,
            taken_at=received,
            state="filed",
            outcome="accepted",
            reference=reference,
        )
        session.add(message)
        session.flush()
        assert message.id is not None
        session.add(
            ReferralRecord(
                reference=reference,
                message_id=message.id,
                kind="referral",
                status="new",
                outcome="accepted",
                priority="urgent",
                nhs_number="9990000018",
                surname="Testcase",
                forenames="Ada",
                created_at=received,
            )
        )
        session.commit()


def test_every_job_runs_one_instance_at_a_time_coalesces_and_has_a_misfire_grace(app: App) -> None:
    scheduler = BackgroundScheduler(timezone=LONDON)

    add_jobs(scheduler, app)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"poll", "outbox", "retention", "digest", "reminders"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce) == (1, True), job.id
        assert job.misfire_grace_time >= 30, job.id


def test_the_daily_retention_job_purges_the_digest_a_month_after_it_was_sent(app: App) -> None:
    monday = dt.datetime(2026, 3, 2, 8, 0, tzinfo=LONDON)
    add_referral(app, "NMSS-RETAIN01", monday - dt.timedelta(days=3))
    run_scheduler(app, monday, monday + dt.timedelta(hours=1))
    [key] = digests(app)
    jobs = jobs_of(app)

    for days, held in ((29, True), (31, False)):
        with time_machine.travel(monday + dt.timedelta(days=days), tick=False):
            jobs["retention"]()
        with Session(app.engine) as session:
            digest = session.exec(select(OutboxRecord).where(OutboxRecord.key == key)).one()
        assert (digest.state, bool(digest.raw)) == ("sent", held), days
    with Session(app.engine) as session:
        referral = session.exec(select(ReferralRecord)).one()
    assert referral.nhs_number == "9990000018", "a referral never assessed keeps its details"


def test_while_the_database_does_not_answer_each_job_says_so_in_one_line_and_the_next_run_catches_up(
    app: App,
) -> None:
    log = io.StringIO()
    configure_logging("json", "info", stream=log)
    # A PostgreSQL server being restarted: nothing answers on its port.
    down = make_engine(f"postgresql+psycopg://nmss@127.0.0.1:{_free_port()}/nmss")
    restarting = dataclasses.replace(app, services=dataclasses.replace(app.services, engine=down))

    with time_machine.travel(dt.datetime(2026, 11, 30, 8, 31, tzinfo=LONDON), tick=False):
        for job in jobs_of(restarting).values():
            job()  # nothing escapes to the scheduler, which would log a traceback
        assert digests(app) == {}
        jobs_of(app)["digest"]()

    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert sorted((e["job"], e["error_type"], e["level"]) for e in events if e["event"] == "database_unavailable") == [
        (job, "OperationalError", "warning") for job in sorted(["poll", "outbox", "digest", "reminders", "retention"])
    ]
    assert list(digests(app)) == ["digest-2026-11-30"]


def test_without_team_addresses_there_is_no_digest_or_reminder_job(app: App) -> None:
    scheduler = BackgroundScheduler(timezone=LONDON)
    settings = app.settings.model_copy(update={"service": ServiceSettings()})

    add_jobs(scheduler, bootstrap(settings))

    assert {job.id for job in scheduler.get_jobs()} == {"poll", "outbox", "retention"}


def test_the_digest_goes_at_0830_london_on_each_working_day_across_the_october_clock_change(app: App) -> None:
    # British Summer Time ends at 02:00 on Sunday 25 October 2026.
    run_scheduler(app, dt.datetime(2026, 10, 23, 0, 0, tzinfo=LONDON), dt.datetime(2026, 10, 27, 12, 0, tzinfo=LONDON))

    assert digests(app) == {
        "digest-2026-10-23": dt.datetime(2026, 10, 23, 8, 30, tzinfo=LONDON),  # 07:30 UTC
        "digest-2026-10-26": dt.datetime(2026, 10, 26, 8, 30, tzinfo=LONDON),  # 08:30 UTC
        "digest-2026-10-27": dt.datetime(2026, 10, 27, 8, 30, tzinfo=LONDON),
    }
    assert sorted(p.name for p in (app.settings.outgoing.outbox_path).glob("digest-*.eml")) == [
        "digest-2026-10-23.eml",
        "digest-2026-10-26.eml",
        "digest-2026-10-27.eml",
    ]


def test_no_digest_goes_on_the_easter_bank_holidays_when_the_clocks_go_forward(app: App) -> None:
    # Good Friday 26 March 2027, clocks forward on Sunday 28 March, Easter Monday 29 March.
    run_scheduler(app, dt.datetime(2027, 3, 25, 6, 0, tzinfo=LONDON), dt.datetime(2027, 3, 30, 10, 0, tzinfo=LONDON))

    assert digests(app) == {
        "digest-2027-03-25": dt.datetime(2027, 3, 25, 8, 30, tzinfo=LONDON),  # 08:30 GMT
        "digest-2027-03-30": dt.datetime(2027, 3, 30, 8, 30, tzinfo=LONDON),  # 08:30 BST = 07:30 UTC
    }


def test_a_digest_due_while_the_service_was_down_goes_once_when_it_starts_again_that_day(app: App) -> None:
    run_scheduler(app, dt.datetime(2026, 12, 1, 7, 0, tzinfo=LONDON), dt.datetime(2026, 12, 1, 8, 0, tzinfo=LONDON))
    # Down from 08:00 to 11:17; the first tick after the restart finds the day's digest missing.
    run_scheduler(app, dt.datetime(2026, 12, 1, 11, 17, tzinfo=LONDON), dt.datetime(2026, 12, 1, 17, 0, tzinfo=LONDON))
    run_scheduler(app, dt.datetime(2026, 12, 1, 11, 17, tzinfo=LONDON), dt.datetime(2026, 12, 1, 11, 30, tzinfo=LONDON))

    assert digests(app) == {"digest-2026-12-01": dt.datetime(2026, 12, 1, 11, 17, tzinfo=LONDON)}


def test_a_call_due_over_christmas_is_reminded_once_on_the_next_working_day_at_nine(app: App) -> None:
    add_referral(app, "NMSS-XMAS0001", dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC))
    # 13 November + 42 days = Christmas Day; Boxing Day's substitute is Monday 28: the call is due Tuesday 29.
    with UnitOfWork(app.engine) as uow:
        record_assessment(
            uow, "NMSS-XMAS0001", dt.date(2026, 11, 13), today=dt.date(2026, 11, 13), now=dt.datetime.now(dt.UTC)
        )

    run_scheduler(app, dt.datetime(2026, 12, 24, 0, 0, tzinfo=LONDON), dt.datetime(2026, 12, 29, 12, 0, tzinfo=LONDON))

    assert [(key, at) for key, at, _ in reminders(app)] == [
        ("reminder-followup-1-2026-12-29", dt.datetime(2026, 12, 29, 9, 0, tzinfo=LONDON))
    ]
    assert set(digests(app)) == {"digest-2026-12-24", "digest-2026-12-29"}


def test_reminders_missed_while_the_service_was_down_are_caught_up_once_on_restart(app: App) -> None:
    add_referral(app, "NMSS-DOWN0001", dt.datetime(2026, 10, 1, 10, 0, tzinfo=dt.UTC))
    add_referral(app, "NMSS-DOWN0002", dt.datetime(2026, 10, 1, 10, 0, tzinfo=dt.UTC))
    for reference, day in (("NMSS-DOWN0001", dt.date(2026, 10, 19)), ("NMSS-DOWN0002", dt.date(2026, 10, 20))):
        with UnitOfWork(app.engine) as uow:
            record_assessment(uow, reference, day, today=day, now=dt.datetime.now(dt.UTC))
    # Six-week calls due Monday 30 and Tuesday 1 December; the service is down from Friday 27 November until
    # Wednesday 2 December at 14:00.
    run_scheduler(app, dt.datetime(2026, 11, 27, 8, 0, tzinfo=LONDON), dt.datetime(2026, 11, 27, 17, 0, tzinfo=LONDON))
    assert reminders(app) == []

    run_scheduler(app, dt.datetime(2026, 12, 2, 14, 0, tzinfo=LONDON), dt.datetime(2026, 12, 2, 17, 0, tzinfo=LONDON))

    restart = dt.datetime(2026, 12, 2, 14, 0, tzinfo=LONDON)
    assert sorted(reminders(app)) == [
        ("reminder-followup-1-2026-11-30", restart, "sent"),
        ("reminder-followup-4-2026-12-01", restart, "sent"),
    ]
    with Session(app.engine) as session:
        reminded = session.exec(select(FollowUpRecord).where(FollowUpRecord.reminded_at.is_not(None))).all()  # type: ignore[union-attr]
    assert len(reminded) == 2


def test_a_running_scheduler_sends_the_digest_once_after_0830_on_a_working_day(app: App) -> None:
    scheduler = BackgroundScheduler(timezone=LONDON)
    with time_machine.travel(dt.datetime(2026, 11, 30, 8, 31, tzinfo=LONDON), tick=True):
        add_jobs(scheduler, app)
        scheduler.start()
        try:
            outbox = app.settings.outgoing.outbox_path / "digest-2026-11-30.eml"
            for _ in range(200):  # the jobs start at once: wait up to ten seconds for the digest file
                if outbox.exists() and digests(app):
                    break
                time.sleep(0.05)
        finally:
            scheduler.shutdown(wait=True)

    assert list(digests(app)) == ["digest-2026-11-30"]
    assert outbox.exists()


def team_email(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "agem.norfolkmedicineservices@nhs.net"
    message["To"] = "nmss.team@nhs.net"
    message["Subject"] = subject
    message.set_content("Sent by a test.\n")
    return message.as_bytes()


class BusyMailbox:
    """A mailbox whose listing takes until ``done`` is set: a poll stuck on a message that takes its whole
    budget to read."""

    def __init__(self, inner: Mailbox) -> None:
        self.inner = inner
        self.name = inner.name
        self.busy = threading.Event()
        self.done = threading.Event()

    def fetch_new(self) -> Iterator[IncomingMail]:
        self.busy.set()
        self.done.wait()
        return self.inner.fetch_new()

    def file(self, ref: MailRef, folder: str, *, again: bool = False) -> None:
        self.inner.file(ref, folder, again=again)


def test_the_digest_and_the_outbox_go_out_while_the_poll_is_busy_reading_a_message(app: App) -> None:
    mailbox = BusyMailbox(app.mailbox)
    add_referral(app, "NMSS-BUSY0001", dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC))
    outbox = app.settings.outgoing.outbox_path
    with time_machine.travel(dt.datetime(2026, 11, 30, 8, 31, tzinfo=LONDON), tick=True):
        scheduler = new_scheduler(dataclasses.replace(app, mailbox=mailbox), BackgroundScheduler)
        scheduler.start()
        try:
            assert mailbox.busy.wait(60), "the poll job should have started"
            # Written while the poll is busy: only the outbox job, which runs a few seconds after the start,
            # can send it.
            with Session(app.engine) as session:
                session.add(
                    OutboxRecord(
                        key="alert-waiting",
                        kind="mailbox_down",
                        recipient="nmss.team@nhs.net",
                        raw=team_email("waiting to be sent"),
                        created_at=dt.datetime.now(dt.UTC),
                    )
                )
                session.commit()
            wanted = {"digest-2026-11-30.eml", "alert-waiting.eml"}
            for _ in range(1200):  # wait up to a minute: a busy machine is slow, but nothing here waits on the poll
                if wanted <= {path.name for path in outbox.glob("*.eml")}:
                    break
                time.sleep(0.05)
            sent_while_polling = {path.name for path in outbox.glob("*.eml")}
        finally:
            mailbox.done.set()
            scheduler.shutdown(wait=True)

    assert wanted <= sent_while_polling


class SlowSender:
    """Writes each email to the app's outbox folder; the first send waits until ``go`` is set."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.keys: list[str] = []
        self.sending = threading.Event()
        self.go = threading.Event()

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:
        self.keys.append(key)
        self.sending.set()
        self.go.wait()
        self.inner.send(message, key=key, recipients=recipients)


def test_while_the_outbox_job_sends_the_poll_waits_to_send_and_no_email_goes_twice(app: App) -> None:
    sender = SlowSender(app.sender)
    slow = dataclasses.replace(app, services=dataclasses.replace(app.services, sender=sender))
    with Session(app.engine) as session:
        session.add(
            OutboxRecord(
                key="reply-once",
                kind="reply_incomplete",
                recipient="nmss.team@nhs.net",
                raw=team_email("one reply"),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        session.commit()
    outbox_job = threading.Thread(target=send_pending, args=[slow])
    outbox_job.start()
    assert sender.sending.wait(60)
    poll = threading.Thread(target=poll_once, args=[slow])  # an empty mailbox: it goes straight to sending
    poll.start()
    poll.join(1)  # time for it to reach the outbox; it must not get past a send under way
    poll_was_waiting = poll.is_alive()
    sender.go.set()
    outbox_job.join(60)
    poll.join(60)

    assert poll_was_waiting
    assert sender.keys == ["reply-once"]
