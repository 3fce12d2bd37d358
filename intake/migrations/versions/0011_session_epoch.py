"""Sessions an admin's password reset ends: user_account.session_epoch.

A session keeps its account's epoch from when it signed in and counts only while the account still has it;
giving an account a new one-time password moves the epoch on. Written by hand, on 0010_form_confidence.
Accounts have 0 to begin with, as the sessions signed in before this migration are taken to have: they go on.

Revision ID: 0011_session_epoch
Revises: 0010_form_confidence
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_session_epoch"
down_revision: str | None = "0010_form_confidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
