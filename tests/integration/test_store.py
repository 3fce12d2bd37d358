"""The store on real databases: SQLite in a temporary folder and the session's PostgreSQL cluster."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from intake.migrate import is_current, upgrade
from intake.store import MessageRecord, OutboxRecord, make_engine, metadata

WHEN = dt.datetime(2026, 11, 28, 9, 15, 30, 123456, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> Engine:
    """An empty database of each kind: a SQLite file and a fresh PostgreSQL database."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """The same, brought to the newest migration."""
    upgrade(empty_engine)
    return empty_engine


def message(**overrides: Any) -> MessageRecord:
    values: dict[str, Any] = {
        "source": "nmss-inbox",
        "folder": "INBOX",
        "uidvalidity": 1700000000,
        "uid": "42",
        "sha256": "0" * 64,
        "size": 1234,
        "received_at": WHEN,
        "taken_at": WHEN,
        "reference": "NMSS-TEST-0001",
    }
    return MessageRecord(**(values | overrides))


def outbox(**overrides: Any) -> OutboxRecord:
    values: dict[str, Any] = {
        "key": "reply:NMSS-TEST-0001",
        "kind": "acknowledgement",
        "recipient": "gp.surgery@example.nhs.uk",
        "raw": b"Subject: test\r\n\r\nbody\r\n",
        "created_at": WHEN,
    }
    return OutboxRecord(**(values | overrides))


def add(engine: Engine, *rows: Any) -> None:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def test_upgrade_creates_every_table_and_a_second_run_changes_nothing(empty_engine: Engine) -> None:
    engine = empty_engine
    assert not is_current(engine)

    upgrade(engine)

    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == {*metadata.tables, "alembic_version"}
    for name, table in metadata.tables.items():
        assert {c["name"] for c in inspector.get_columns(name)} == set(table.columns.keys()), name
    assert is_current(engine)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()

    upgrade(engine)

    assert is_current(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == version
    assert set(inspect(engine).get_table_names()) == {*metadata.tables, "alembic_version"}


def test_a_sqlite_database_runs_in_wal_mode(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)

    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_the_ledger_rejects_a_second_message_with_the_same_mailbox_key(engine: Engine) -> None:
    add(engine, message())
    add(engine, message(uid="43"), message(uidvalidity=1700000001), message(folder="Archive"))

    with Session(engine) as session:
        session.add(message(sha256="1" * 64, reference="NMSS-TEST-0002"))
        with pytest.raises(IntegrityError):
            session.commit()

    with Session(engine) as session:
        assert len(session.exec(select(MessageRecord)).all()) == 4


def test_the_outbox_rejects_a_second_email_with_the_same_key(engine: Engine) -> None:
    add(engine, outbox())

    with Session(engine) as session:
        session.add(outbox(recipient="someone.else@example.nhs.uk"))
        with pytest.raises(IntegrityError):
            session.commit()

    with Session(engine) as session:
        assert [row.recipient for row in session.exec(select(OutboxRecord))] == ["gp.surgery@example.nhs.uk"]


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(engine: Engine) -> None:
    london_summer = dt.datetime(2026, 7, 1, 10, 30, 45, 654321, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    add(engine, message(received_at=london_summer, taken_at=WHEN))

    with Session(engine) as session:
        row = session.exec(select(MessageRecord)).one()

    assert row.received_at == london_summer
    assert row.received_at.utcoffset() == dt.timedelta(0)
    assert row.received_at.hour == 9
    assert row.taken_at == WHEN
    assert row.taken_at.utcoffset() == dt.timedelta(0)


def test_a_committed_row_is_visible_to_another_session_and_an_uncommitted_one_is_not(engine: Engine) -> None:
    add(engine, message(uid="1", reference="NMSS-COMMITTED"))

    with Session(engine) as writer, Session(engine) as reader:
        writer.add(message(uid="2", reference="NMSS-PENDING"))
        writer.flush()
        assert sorted(writer.exec(select(MessageRecord.reference))) == ["NMSS-COMMITTED", "NMSS-PENDING"]

        assert list(reader.exec(select(MessageRecord.reference))) == ["NMSS-COMMITTED"]
        reader.rollback()

        writer.commit()
        assert sorted(reader.exec(select(MessageRecord.reference))) == ["NMSS-COMMITTED", "NMSS-PENDING"]


def _upgrade_when_all_are_ready(url: str, ready: Barrier) -> None:
    engine = make_engine(url)
    ready.wait()
    upgrade(engine)


def test_two_upgrades_started_together_both_succeed_and_the_schema_is_made_once(empty_engine: Engine) -> None:
    # Two instances starting at once, each its own process (Alembic's context is per process): one migrates,
    # the other waits for the schema lock and then finds nothing to do.
    url = empty_engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(2)
    instances = [spawn.Process(target=_upgrade_when_all_are_ready, args=(url, ready)) for _ in range(2)]
    for instance in instances:
        instance.start()
    for instance in instances:
        instance.join()

    assert [instance.exitcode for instance in instances] == [0, 0]
    assert is_current(empty_engine)
    with empty_engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(versions) == len(set(versions)), "each head recorded once"
