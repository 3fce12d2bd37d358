"""The views on both databases: what a person reads after the pipeline ran, through plain query functions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from intake.commands import record_assessment, record_view
from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Services, take_new_mail
from intake.unit_of_work import UnitOfWork
from intake.views import digest_content, queue, queue_page, referral, status, tasks
from samples.scenarios import Scenario, all_scenarios, deliver_to_maildir
from tests.services import pipeline_services

TODAY = dt.date(2026, 11, 27)
NOW = dt.datetime.combine(TODAY, dt.time(10), tzinfo=dt.UTC)


@pytest.fixture
def engine(database_engine: Engine) -> Engine:
    """The database the tests run on (``NMSS_TEST_DATABASE``; ``make test`` runs both)."""
    return database_engine


@pytest.fixture
def taken(engine: Engine, tmp_path: Path) -> tuple[Services, list[Scenario]]:
    """Every sample taken by the pipeline, the automatic one sent by a machine with forms attached."""
    scenarios = all_scenarios(TODAY, seed=21)
    deliver_to_maildir(tmp_path / "mailbox", scenarios)
    services = pipeline_services(engine, tmp_path / "outbox", clock=lambda: NOW)
    take_new_mail(MaildirMailbox(tmp_path / "mailbox"), services)
    return services, scenarios


def test_the_queue_lists_referrals_most_urgent_first_with_mar_registrations_after(
    taken: tuple[Services, list[Scenario]],
) -> None:
    services, _ = taken
    with UnitOfWork(services.engine) as uow:
        items = queue(uow)
        review = queue(uow, "review")

    ranks = [("urgent", "soon", "routine", None).index(item.priority) for item in items]
    assert ranks == sorted(ranks)
    assert {item.kind for item in items} == {"referral", "mar_registration"}
    assert all(item.status == "review" for item in review)


def test_a_referral_is_shown_with_the_forms_it_came_with_and_what_happened(
    taken: tuple[Services, list[Scenario]],
) -> None:
    services, _ = taken
    with UnitOfWork(services.engine) as uow:
        first = next(item for item in queue(uow) if item.kind == "referral")
        detail = referral(uow, first.reference)
        missing = referral(uow, "NMSS-AAAAAAAA")

    assert missing is None
    assert detail is not None
    assert detail.item == first
    assert {form.kind for form in detail.forms} == {"form2", "form1", "miat"}
    assert [event.event for event in detail.history] == ["decided"]
    assert (detail.assessed_on, detail.calls, detail.tasks) == (None, (), ())


def test_status_and_the_digest_read_the_same_store(taken: tuple[Services, list[Scenario]]) -> None:
    services, _ = taken
    with UnitOfWork(services.engine) as uow:
        report = status(uow, ["intake"])
        content = digest_content(uow, TODAY, send_at=dt.time(8, 30), tz=dt.UTC, incomplete_days=15)
        open_tasks = tasks(uow)
        referrals = [item for item in queue(uow) if item.kind == "referral"]

    assert report.outbox_pending == 2, "the replies to the incomplete and the misrouted referral wait to be sent"
    assert report.open_tasks == len(open_tasks) == len(content.tasks) == 0
    assert len(content.referrals) + len(content.review) == len(referrals)


def test_a_page_of_the_queue_holds_the_referrals_still_to_assess_in_the_queues_order(
    taken: tuple[Services, list[Scenario]],
) -> None:
    services, _ = taken
    with UnitOfWork(services.engine) as uow:
        waiting = [item for item in queue(uow) if item.kind == "referral"]
        first = queue_page(uow, page_size=2)
        last = queue_page(uow, page=99, page_size=2)
        detail = referral(uow, waiting[0].reference)
        assert detail is not None
        arrived = detail.received_at.date()  # the samples arrive when they are delivered
        record_assessment(uow, waiting[0].reference, arrived, today=arrived, now=NOW)
        after = queue_page(uow, page_size=len(waiting))

    assert (first.total, first.pages) == (len(waiting), -(-len(waiting) // 2))
    assert [item.reference for item in first.items] == [item.reference for item in waiting[:2]]
    assert last.page == last.pages, "a page past the end shows the last one"
    assert [item.reference for item in after.items] == [item.reference for item in waiting[1:]]


def test_who_saw_a_referral_goes_into_its_history(taken: tuple[Services, list[Scenario]]) -> None:
    services, _ = taken
    with UnitOfWork(services.engine) as uow:
        reference = queue(uow)[0].reference
        record_view(uow, reference, "pharmacist@nhs.net", now=NOW)
    with UnitOfWork(services.engine) as uow:
        detail = referral(uow, reference)

    assert detail is not None
    assert (detail.history[-1].event, detail.history[-1].detail) == ("viewed", {"by": "pharmacist@nhs.net"})
