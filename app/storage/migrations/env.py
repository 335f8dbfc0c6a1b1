"""Alembic's environment: run on the connection `database.upgrade` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.storage.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.storage.database.upgrade(engine)")
# Batch mode: SQLite alters a table by copying it; PostgreSQL gets plain ALTERs.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
