"""scope due: when a scheduled article written without a version bump comes due

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_scopes") as batch:
        batch.add_column(sa.Column("due", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("settled", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_scopes") as batch:
        batch.drop_column("settled")
        batch.drop_column("due")
