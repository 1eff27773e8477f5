"""image details: the lead image's width, height, alt, caption, credit and renditions (issue 17)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every column nullable and empty: an article stored before keeps its image as it was.
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("image_width", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("image_height", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("image_alt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("image_caption", sa.Text(), nullable=True))
        batch.add_column(sa.Column("image_credit", sa.Text(), nullable=True))
        batch.add_column(sa.Column("image_renditions", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        for name in ("image_renditions", "image_credit", "image_caption", "image_alt",
                     "image_height", "image_width"):
            batch.drop_column(name)
