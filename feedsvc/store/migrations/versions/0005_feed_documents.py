"""feed documents: canonical documents and their validators, shared by every process

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedsvc.store.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_documents",
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("slug", sa.String(length=220), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("last_modified", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", feedsvc.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rendered", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("variant"),
    )
    # Validators of documents and pages per URL: documents now keep their own, pages need none.
    op.drop_table("feed_validators")


def downgrade() -> None:
    op.create_table(
        "feed_validators",
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("last_modified", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("variant"),
    )
    op.drop_table("feed_documents")
