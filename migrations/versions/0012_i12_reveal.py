"""submissions.reveal: a "show me" / "give up" request gets the full feedback at once

Revision ID: i12_reveal
Revises: i9_grading_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i12_reveal"
down_revision = "i9_grading_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("reveal", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("reveal")
