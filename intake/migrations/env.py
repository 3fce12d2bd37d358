"""Alembic's environment: migrations run on the engine the service hands over, or on ``sqlalchemy.url``.

Every pending migration runs in the one transaction of ``intake.migrate.schema_transaction`` (the caller's, or
opened here), so an upgrade killed half-way leaves the schema as it was.
"""

from alembic import context
from sqlalchemy import Connection

from intake.migrate import schema_transaction
from intake.store import make_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # One transaction for all the migrations, not one each: a kill between two must not leave the first.
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with schema_transaction(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()
