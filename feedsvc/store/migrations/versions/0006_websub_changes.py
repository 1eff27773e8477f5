"""websub changes: a change's scope on its job (expanded by the worker), and a callback's host

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:30:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import feedsvc.store.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("websub_jobs") as batch:
        batch.add_column(sa.Column("scope_kind", sa.String(20), nullable=True))
        batch.add_column(sa.Column("scope_slug", sa.String(220), nullable=True))
        batch.add_column(sa.Column("callback_host", sa.String(300), nullable=True))
        batch.create_index("ix_websub_jobs_callback_host", ["callback_host", "kind"])
        batch.create_index("ix_websub_jobs_scope", ["scope_kind", "scope_slug", "kind"])
    # The cursor over scheduled articles gives way to a job due at each one's instant, in every
    # scope it is in. Articles saved while scheduled whose instant is after the cursor get
    # theirs here: those still to come, and those that came due while no worker looked (due
    # now, at their instant past).
    bind = op.get_bind()
    stored = bind.execute(sa.text("SELECT value FROM settings WHERE name = 'websub_due_cursor'")).scalar()
    now = dt.datetime.now(dt.UTC)
    since = dt.datetime.fromisoformat(stored) if stored else now
    instant = feedsvc.store.db.UTCDateTime(timezone=True)
    bounds = (sa.bindparam("now", now, type_=instant), sa.bindparam("since", since, type_=instant))
    scheduled = ("FROM articles a {join} WHERE a.deleted IS NULL AND a.published > :since "
                 "AND a.modified < a.published")
    for kind, slug, join in (
            ("''", "''", ""),
            ("'sections'", "s.slug", "JOIN sections s ON s.id = a.section_id"),
            ("'topics'", "t.slug", "JOIN article_topics l ON l.article_id = a.id "
                                   "JOIN topics t ON t.id = l.topic_id"),
            ("'authors'", "w.slug", "JOIN article_authors l ON l.article_id = a.id "
                                    "JOIN authors w ON w.id = l.author_id")):
        bind.execute(sa.text(
            "INSERT INTO websub_jobs (kind, topic, topic_key, scope_kind, scope_slug, revision, "
            f"attempts, due, created) SELECT DISTINCT 'change', '', '', {kind}, {slug}, 0, 0, "
            f"a.published, :now {scheduled.format(join=join)}").bindparams(*bounds))
    op.execute("DELETE FROM settings WHERE name = 'websub_due_cursor'")
    # Jobs already waiting get the callback host the hub's limits count by.
    from feedsvc.websub.outbox import callback_host

    waiting = bind.execute(sa.text(
        "SELECT j.id, COALESCE(j.callback, s.callback) FROM websub_jobs j "
        "LEFT JOIN websub_subscriptions s ON s.id = j.subscription_id "
        "WHERE j.kind IN ('verify', 'deliver')")).all()
    for job_id, callback in waiting:
        if callback:
            bind.execute(sa.text("UPDATE websub_jobs SET callback_host = :host WHERE id = :id"),
                         {"host": callback_host(callback), "id": job_id})


def downgrade() -> None:
    with op.batch_alter_table("websub_jobs") as batch:
        batch.drop_index("ix_websub_jobs_scope")
        batch.drop_index("ix_websub_jobs_callback_host")
        batch.drop_column("callback_host")
        batch.drop_column("scope_slug")
        batch.drop_column("scope_kind")
