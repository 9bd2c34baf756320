"""Alembic's entry point: always called by deployer.web.store.database with an open connection
(``config.attributes["connection"]``); there is no alembic.ini and no offline mode."""

from __future__ import annotations

from alembic import context

from deployer.web.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
