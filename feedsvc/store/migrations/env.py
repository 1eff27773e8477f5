"""Alembic environment: runs on the connection feedsvc hands it (see db.upgrade)."""

from alembic import context

from feedsvc.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `feedsvc db upgrade`")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
