"""websub: subscriptions, the last distributed document per topic, the outbox of jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedsvc.store.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("topic_key", sa.String(length=64), nullable=False),
        sa.Column("callback", sa.Text(), nullable=False),
        sa.Column("scope_kind", sa.String(length=20), nullable=False),
        sa.Column("scope_slug", sa.String(length=220), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("expires", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_attempt", feedsvc.store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_websub_subscriptions_scope", ["scope_kind", "scope_slug"], unique=False)
        batch_op.create_index("ix_websub_subscriptions_topic", ["topic_key"], unique=False)

    op.create_table(
        "websub_topics",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("changed", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "websub_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("topic_key", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("callback", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created", feedsvc.store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["websub_subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("websub_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_websub_jobs_due", ["due", "id"], unique=False)
        batch_op.create_index("ix_websub_jobs_topic", ["topic_key", "kind"], unique=False)
        batch_op.create_index("ix_websub_jobs_subscription", ["subscription_id"], unique=False)


def downgrade() -> None:
    op.drop_table("websub_jobs")
    op.drop_table("websub_topics")
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_websub_subscriptions_topic")
        batch_op.drop_index("ix_websub_subscriptions_scope")
    op.drop_table("websub_subscriptions")
