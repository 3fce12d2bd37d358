"""The migrations, checked both ways on SQLite and PostgreSQL: an empty database upgraded to the newest version
holds exactly the tables the models describe, and every migration can be undone and done again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from intake.migrate import MIGRATIONS, VERSION_TABLE, is_current, schema_transaction, upgrade
from intake.store import make_engine, metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_engine")
        return
    engine = make_engine(f"sqlite:///{tmp_path}/nmss.db")
    yield engine
    engine.dispose()


def drift(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the models: tables, columns, types,
    nullability, server defaults, indexes, unique constraints and foreign keys."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def migrate(engine: Engine, direction: str, revision: str) -> None:
    """Run Alembic's ``upgrade`` or ``downgrade`` to ``revision`` in one transaction, as the service upgrades."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with schema_transaction(engine) as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_an_empty_database_upgraded_to_the_newest_migration_matches_the_models(empty: Engine) -> None:
    upgrade(empty)

    assert is_current(empty)
    assert drift(empty) == []


def test_every_migration_can_be_undone_and_done_again(empty: Engine) -> None:
    upgrade(empty)

    migrate(empty, "downgrade", "base")

    assert set(inspect(empty).get_table_names()) <= {VERSION_TABLE}, "undone to nothing"
    migrate(empty, "upgrade", "heads")
    assert is_current(empty)
    assert drift(empty) == []


def test_the_migrations_end_in_one_head_so_the_next_one_has_one_parent() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    assert ScriptDirectory.from_config(config).get_heads() == ["0011_session_epoch"]
