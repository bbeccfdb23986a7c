"""Alembic environment: the engine comes from ``hub.store.db.upgrade`` or from settings."""

from alembic import context

from hub.config import get_settings
from hub.store.db import make_engine
from hub.store.tables import metadata

engine = context.config.attributes.get("engine") or make_engine(get_settings().sqlalchemy_url)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=engine.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
