"""The registry's whole lifecycle: every entry can be disabled (agencies, services and access
rules gain ``enabled``; systems keep ``active``, connectors and routes had ``enabled``), and a
system's key can be rotated with a grace period for the old one, or revoked at once; a service
says what becomes of a message nothing routes (refused, or parked until a route appears).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("agencies", "services", "access_rules"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("enabled", sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("unroutable", sa.String(8), nullable=False,
                                   server_default="refuse",
                                   comment="refuse, or park until a route appears"))
    with op.batch_alter_table("systems") as batch:
        batch.add_column(sa.Column("previous_key_prefix", sa.String(16), nullable=True,
                                   comment="the key before the last rotation"))
        batch.add_column(sa.Column("previous_key_hash", sa.String(128), nullable=True))
        batch.add_column(sa.Column("previous_key_until", sa.DateTime(timezone=True),
                                   nullable=True, comment="the old key is refused after this"))
        batch.add_column(sa.Column("key_revoked_at", sa.DateTime(timezone=True), nullable=True,
                                   comment="set: no key of this system is accepted"))
        batch.create_index("ix_systems_previous_key_prefix", ["previous_key_prefix"])


def downgrade() -> None:
    with op.batch_alter_table("systems") as batch:
        batch.drop_index("ix_systems_previous_key_prefix")
        for column in ("key_revoked_at", "previous_key_until", "previous_key_hash",
                       "previous_key_prefix"):
            batch.drop_column(column)
    with op.batch_alter_table("services") as batch:
        batch.drop_column("unroutable")
    for table in ("access_rules", "services", "agencies"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("enabled")
