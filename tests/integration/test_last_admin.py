"""The last admin on PostgreSQL: two admins taking each other's role away at the same moment cannot both
succeed, because the second waits for the first's lock on the admins and then sees it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, text

from intake import commands
from intake.accounts import LastAdmin
from intake.migrate import upgrade
from intake.unit_of_work import UnitOfWork
from intake.views import accounts

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
FIRST, SECOND = "first.admin@nhs.net", "second.admin@nhs.net"


def waiting_for_a_lock(engine: Engine) -> bool:
    with UnitOfWork(engine) as uow:
        count = uow.session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(count)


@pytest.mark.postgres
def test_two_admins_demoting_each_other_at_once_leave_one_admin(postgres_engine: Engine) -> None:
    upgrade(postgres_engine)
    for email in (FIRST, SECOND):
        with UnitOfWork(postgres_engine) as uow:
            commands.add_account(uow, email, "admin", None, by="command line", now=NOW)
    outcome: list[BaseException | None] = []

    def second_demotes_first() -> None:
        try:
            with UnitOfWork(postgres_engine) as uow:
                commands.change_role(uow, FIRST, "team", by=SECOND, now=NOW)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    with UnitOfWork(postgres_engine) as first:
        assert len(first.users.enabled_admins()) == 2  # and this transaction now holds their rows
        other = threading.Thread(target=second_demotes_first)
        other.start()
        blocked = threading.Event()
        while not blocked.wait(0.05):  # the other transaction reaches the admins and waits for our lock
            if waiting_for_a_lock(postgres_engine):
                blocked.set()
            assert other.is_alive(), f"the other change did not wait: {outcome}"
        commands.change_role(first, SECOND, "team", by=FIRST, now=NOW)
    other.join()

    [error] = outcome
    assert isinstance(error, LastAdmin)
    with UnitOfWork(postgres_engine) as uow:
        roles = {a.email: a.role for a in accounts(uow)}
    assert roles == {FIRST: "admin", SECOND: "team"}
