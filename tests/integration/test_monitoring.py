"""Readiness and the database's figures, on both databases, from the health the polls record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy import Engine

from config.settings import ServiceSettings
from intake.health import record_failure, record_success
from intake.migrate import upgrade
from intake.monitoring import Metrics, readiness
from intake.store import make_engine
from intake.unit_of_work import UnitOfWork

NOW = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    upgrade(engine)
    return engine


def ready(engine: Engine, *, at: dt.datetime = NOW) -> dict[str, str]:
    result = readiness(engine, ["intake"], now=at, stale_after_seconds=600, alert_after_failures=3)
    assert result.ready == all(v == "ok" for v in result.checks.values())
    return result.checks


def test_a_mailbox_is_ready_after_a_good_poll_until_it_goes_stale_or_fails_three_times(engine: Engine) -> None:
    service = ServiceSettings()
    assert ready(engine)["mailbox:intake"] == "never read yet"

    with UnitOfWork(engine) as uow:
        record_success(uow, "intake", now=NOW, service=service)
    assert ready(engine) == {"database": "ok", "mailbox:intake": "ok"}
    assert ready(engine, at=NOW + dt.timedelta(minutes=11))["mailbox:intake"] == "no good poll for over 600 seconds"

    for minutes in (1, 2):
        at = NOW + dt.timedelta(minutes=minutes)
        with UnitOfWork(engine) as uow:
            record_failure(uow, "intake", OSError(), now=at, service=service, alert_after=3)
    assert ready(engine, at=NOW + dt.timedelta(minutes=2))["mailbox:intake"] == "ok", "two failures are a blip"
    with UnitOfWork(engine) as uow:
        record_failure(uow, "intake", OSError(), now=NOW + dt.timedelta(minutes=3), service=service, alert_after=3)
    assert ready(engine, at=NOW + dt.timedelta(minutes=3))["mailbox:intake"] == "3 failed polls in a row (OSError)"


def test_an_unreachable_database_is_not_ready_and_metrics_say_it_is_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/missing/folder/that/is/a/file/nmss.db")
    (tmp_path / "missing").write_text("not a folder")

    result = readiness(engine, ["intake"], now=NOW, stale_after_seconds=600, alert_after_failures=3)

    assert not result.ready
    assert result.checks["database"].startswith("unreachable")
    text = generate_latest(Metrics(engine, ["intake"], clock=lambda: NOW).registry).decode()
    assert "nmss_database_up 0.0" in text
    assert "nmss_outbox_backlog" not in text
