"""submissions.framework: the framework (torch | numpy) a submission was graded in (issue 15: the learner picks)

Revision ID: i15_framework
Revises: i8_staff_detail
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15_framework"
down_revision = "i8_staff_detail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows stored before this column were graded in the exercise's first framework (or, for an
    # exercise offered in several, the one their imports named); nothing recorded which.
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("framework", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("framework")
