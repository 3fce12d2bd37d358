"""Join the migrations written side by side into one line, so that the next migration has one parent and a
database administrator's ``alembic upgrade head`` (singular) works.

Nothing changes in the schema: an Alembic merge revision.

Revision ID: 0009_one_head
Revises: 0002, 0005, 0006_ledger_identity, 0006_tasks, 0008_form_file, 0008_referral_notes, 0008_retention,
    0008_users_disabled
"""

from collections.abc import Sequence

revision: str = "0009_one_head"
down_revision: str | Sequence[str] | None = (
    "0002",
    "0005",
    "0006_ledger_identity",
    "0006_tasks",
    "0008_form_file",
    "0008_referral_notes",
    "0008_retention",
    "0008_users_disabled",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
