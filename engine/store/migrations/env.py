"""Alembic environment: migrations run on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from engine.store.models import SQLModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
