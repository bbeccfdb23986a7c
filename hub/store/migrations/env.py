"""Alembic environment: the connection or engine comes from ``hub.store.db.upgrade``, or the
engine from settings when alembic is run by hand."""

from alembic import context

from hub.config import get_settings
from hub.store.db import make_engine
from hub.store.tables import metadata


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = context.config.attributes.get("engine") or make_engine(get_settings().sqlalchemy_url)
    with engine.connect() as connection:
        run(connection)
