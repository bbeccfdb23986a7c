"""Retries that outlast an outage: a time budget per service and per connector instance, the
moment a delivery's budget starts (acceptance or replay), a circuit per connector instance
shared by every worker, and a count on denials so repeated refusals are one row, not thousands.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("services", "connector_instances"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("retry_budget_seconds", sa.Float(), nullable=True,
                                       comment="keep retrying this long; null = the default"))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True,
                                   comment="the retry budget counts from here"))
    deliveries = sa.table("deliveries", sa.column("queued_at"), sa.column("created_at"))
    op.execute(deliveries.update().values(queued_at=deliveries.c.created_at))
    with op.batch_alter_table("denials") as batch:
        batch.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1",
                                   comment="identical refusals folded into this row"))
    op.create_table(
        "circuits",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False, comment="closed, open or half_open"),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0",
                  comment="consecutive transient failures"),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe_at", sa.DateTime(timezone=True), nullable=True,
                  comment="when an open circuit is probed next"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector", name="pk_circuits"),
    )


def downgrade() -> None:
    op.drop_table("circuits")
    with op.batch_alter_table("denials") as batch:
        batch.drop_column("count")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("queued_at")
    for table in ("connector_instances", "services"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retry_budget_seconds")
