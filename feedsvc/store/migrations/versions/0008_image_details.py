"""image details: the lead image's width, height, alt, caption, credit and renditions (issue 17)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every column nullable and empty: an article stored before keeps its image as it was.
    # Added in place (never a batch copy of the table, see downgrade).
    op.add_column("articles", sa.Column("image_width", sa.Integer(), nullable=True))
    op.add_column("articles", sa.Column("image_height", sa.Integer(), nullable=True))
    op.add_column("articles", sa.Column("image_alt", sa.Text(), nullable=True))
    op.add_column("articles", sa.Column("image_caption", sa.Text(), nullable=True))
    op.add_column("articles", sa.Column("image_credit", sa.Text(), nullable=True))
    op.add_column("articles", sa.Column("image_renditions", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies the table, and dropping the old "articles" then
    # deletes every topic and author link (ON DELETE CASCADE, foreign keys on). SQLite 3.35+
    # drops a column in place.
    for name in ("image_renditions", "image_credit", "image_caption", "image_alt",
                 "image_height", "image_width"):
        op.drop_column("articles", name)
