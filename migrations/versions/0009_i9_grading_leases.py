"""grading leases: queue, lease token and expiry, enqueue time and claim count on submissions

Revision ID: i9_grading_leases
Revises: i13_drafts_predictions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i9_grading_leases"
down_revision = "i13_drafts_predictions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=8), nullable=False, server_default="cpu"))
        batch.add_column(sa.Column("lease_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))
        # The claim's and the sweep's lookups: queued/running rows of one queue, and a learner's running row.
        batch.create_index("ix_submissions_status_queue", ["status", "queue"])
        batch.create_index("ix_submissions_user_status", ["user_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_user_status")
        batch.drop_index("ix_submissions_status_queue")
        for column in ("claims", "enqueued_at", "lease_expires_at", "lease_token", "queue"):
            batch.drop_column(column)
