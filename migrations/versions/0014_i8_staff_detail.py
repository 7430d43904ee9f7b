"""submissions.staff_detail: what the trusted side saw on hidden cases, for staff pages only (issue 8)

Revision ID: i8_staff_detail
Revises: i12_reveal
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i8_staff_detail"
down_revision = "i12_reveal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("staff_detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("staff_detail")
