"""Schema migrations through Alembic, driven from the service's own engine (no alembic.ini to keep in step).

Creating or upgrading the schema is all or nothing: every pending migration and the version row are written in
one transaction, so a process killed half-way leaves the database as it was before the upgrade began.

- SQLite: DDL is transactional, but pysqlite opens a transaction only before INSERT, UPDATE and DELETE, so each
  ``CREATE TABLE`` used to commit on its own and a kill left half a schema with no version row. The schema
  connection switches pysqlite's own transaction handling off and issues ``BEGIN IMMEDIATE`` itself, which also
  takes the write lock before Alembic reads the version: of two upgrades at once, the second waits, then finds
  nothing left to do.
- PostgreSQL: DDL is transactional; a transaction-scoped advisory lock does what ``BEGIN IMMEDIATE`` does on
  SQLite, so two instances starting together do not both migrate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, literal, select, table, text
from sqlalchemy.engine import make_url

from intake.errors import DatabaseNotReady
from intake.store import metadata

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"

SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"nmss-intake schema").digest()[:8], "big", signed=True)
"""The PostgreSQL advisory lock held while the schema changes: any fixed 64-bit number no other program uses."""

log = structlog.get_logger("intake.migrate")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database to ``revision`` (default: every newest migration); a database already there is left alone.

    "heads" rather than "head": migrations written side by side for separate features branch from the same
    parent until a merge revision joins them (as 0009 does); "heads" applies every branch meanwhile.

    Raises:
        DatabaseNotReady: the database holds a schema this version does not know, or tables but no schema
            version that cannot safely be cleared. Nothing was changed.
        sqlalchemy.exc.DBAPIError: the database cannot be reached, opened or written (nothing was changed).
    """
    with _plainly(engine):
        if revision == "heads" and is_current(engine):
            return  # the everyday case, answered by a read: no write lock for a command that changes nothing
        config = _config(engine)
        with schema_transaction(engine) as connection:
            _remove_unfinished_schema(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction in which DDL is transactional, holding the schema lock; commits on success."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # AUTOCOMMIT is how SQLAlchemy tells pysqlite to stop managing transactions (isolation_level None);
            # the explicit BEGIN then makes every statement, DDL included, part of one transaction. The pool
            # restores the usual mode when the connection is returned.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
            return
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            yield connection


def _remove_unfinished_schema(connection: Connection) -> None:
    """Clear away what an interrupted upgrade by an older version left: tables but no schema version.

    Those upgrades committed each table on its own, so a kill left some empty tables and an empty
    ``alembic_version``; every later upgrade then failed on "table already exists". Empty tables of our own
    schema hold nothing to lose and are dropped, inside the upgrade's transaction. Anything else is refused.
    """
    if MigrationContext.configure(connection).get_current_heads():
        return
    found = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
    if not found:
        return
    where = _where(connection.engine)
    if found - set(metadata.tables):
        raise DatabaseNotReady(
            f"database {where} holds tables this service did not create and no schema version: "
            "point database_url at an empty database"
        )
    if any(connection.execute(select(literal(1)).select_from(table(name)).limit(1)).first() for name in found):
        raise DatabaseNotReady(
            f"database {where} holds data but no schema version (an upgrade by an older version was interrupted): "
            "restore it from a backup; nothing was changed"
        )
    for model in reversed(metadata.sorted_tables):
        if model.name in found:
            model.drop(connection)
    log.warning("database.unfinished_schema_removed", count=len(found))


@contextmanager
def _plainly(engine: Engine) -> Iterator[None]:
    # A schema this version does not know, in one line. The driver's own errors (unreachable, locked,
    # read-only, not a database) are the command line's to word, like those of every other command.
    try:
        yield
    except CommandError as exc:
        raise DatabaseNotReady(
            f"database {_where(engine)} has a schema version this version of nmss-intake does not know ({exc}): "
            "run the newest nmss-intake"
        ) from exc


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration by comparing the tables in intake/store.py with the database (developers only)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration."""
    heads = set(ScriptDirectory.from_config(_config(engine)).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads


def is_ready(engine: Engine) -> bool:
    """Whether the database exists and is at the newest migration; never creates it (``check`` changes nothing)."""
    url = make_url(engine.url)
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(url.database or "").exists():
        return False
    return is_current(engine)
