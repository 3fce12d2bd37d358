"""The views on both databases: what a person reads after the pipeline ran, through plain query functions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from config.forms import FormKind
from intake.commands import record_assessment, record_view
from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Services, take_new_mail
from intake.unit_of_work import UnitOfWork
from intake.views import digest_content, documents, queue, queue_page, referral, status, tasks
from samples.emails import referral_email
from samples.forms import complete_values, fillable_pdf
from samples.people import patient, seeded
from samples.scenarios import FILENAMES, Scenario, all_scenarios, deliver_to_maildir
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


def test_a_document_a_resubmission_carried_over_is_shown_as_the_earlier_copy_with_its_places(
    engine: Engine, tmp_path: Path
) -> None:
    """Incomplete (Form 2 and the MIAT), then Form 1 in a reply naming the reference: the decision carries the
    first two over, and the page shows them as the originals that came with the first email."""
    person = patient(seeded("carried over"), today=TODAY)
    sender = person.pharmacy.email
    when = dt.datetime.combine(TODAY, dt.time(9), tzinfo=dt.UTC)

    def attachments(*kinds: FormKind) -> list[tuple[str, bytes]]:
        return [(FILENAMES[k], fillable_pdf(k, complete_values(k, person, today=TODAY))) for k in kinds]

    first = referral_email(attachments=attachments("form2", "miat"), sender=sender, subject="Referral", date=when)
    services = pipeline_services(engine, tmp_path / "outbox", clock=lambda: NOW)
    deliver_to_maildir(tmp_path / "mailbox", [Scenario("first", "", first, "incomplete")])
    [incomplete] = take_new_mail(MaildirMailbox(tmp_path / "mailbox"), services)
    second = referral_email(
        attachments=attachments("form1"), sender=sender, subject=f"Re: {incomplete.reference}", date=when
    )
    deliver_to_maildir(tmp_path / "mailbox", [Scenario("second", "", second, "accepted")])
    take_new_mail(MaildirMailbox(tmp_path / "mailbox"), services)

    with UnitOfWork(services.engine) as uow:
        forms = uow.documents.of_submission([m.id or 0 for m in uow.ledger.of_submission(incomplete.ledger_id)])
        ids = [form.id or 0 for form in forms]
        kinds = [form.kind for form in forms]
        facts = documents(uow, ids)

    assert kinds == ["form2", "miat", "form2", "miat", "form1"]
    assert [facts[i].same_as for i in ids] == [None, None, ids[0], ids[1], None]
    assert all(facts[i].downloadable for i in ids)
    assert facts[ids[2]].places == facts[ids[0]].places
    assert facts[ids[2]].places["patient.surname"].place is not None
