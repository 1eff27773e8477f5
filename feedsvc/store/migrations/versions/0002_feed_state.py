"""feed state: a version per feed scope, validators per feed document variant

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedsvc.store.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_scopes",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("slug", sa.String(length=220), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "slug"),
    )
    op.create_table(
        "feed_validators",
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("last_modified", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("variant"),
    )


def downgrade() -> None:
    op.drop_table("feed_validators")
    op.drop_table("feed_scopes")
