"""How surely OCR read each value of a form: form.confidence_json, kept so that a resubmission, which decides
the earlier forms again from what was stored, still knows a scan's values for what they are.

Written by hand, on 0009_one_head (after 0008_form_file, which added form.source). Forms recorded before it have ``{}``: a form
read by OCR then counts every value as unsure, so it goes to the team rather than being trusted.

Revision ID: 0010_form_confidence
Revises: 0009_one_head
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_form_confidence"
down_revision: str | None = "0009_one_head"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("form", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confidence_json", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("form", schema=None) as batch_op:
        batch_op.drop_column("confidence_json")
