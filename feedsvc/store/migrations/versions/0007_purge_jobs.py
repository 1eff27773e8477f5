"""purge jobs: the surrogate keys a purge of one shared cache drops (CDN_PURGE)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place (SQLite's ALTER TABLE ADD/DROP COLUMN), not a batch copy of the table.
    op.add_column("websub_jobs", sa.Column("purge_keys", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM websub_jobs WHERE kind = 'purge'")  # without their keys they mean nothing
    op.drop_column("websub_jobs", "purge_keys")
