"""Retention: when each purge removed what a row held (referral, form, quarantine, outbox ``purged_at``).

Written by hand, as the project's migrations are. It follows 0003 (which makes the quarantine table) and 0004
(which rebuilds the outbox) rather than 0001 alone, so that both tables are there, as they will be changed.

Revision ID: 0008_retention
Revises: 0003, 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_retention"
down_revision: str | Sequence[str] | None = ("0003", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("referral", "form", "quarantine", "outbox")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("purged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("purged_at")
