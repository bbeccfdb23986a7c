"""Lookups of citizens' personal data: a service says it is one, and each call is logged.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(
            sa.Column(
                "personal_data",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment="a lookup of citizens' data: grounds required, logged, stored masked",
            )
        )
    op.create_table(
        "personal_data_access",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False, comment="the call's message"),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("system_code", sa.String(64), nullable=False),
        sa.Column("officer", sa.String(300), nullable=False, comment="X-LGSP-Officer, as given"),
        sa.Column("purpose", sa.String(300), nullable=False, comment="X-LGSP-Purpose, as given"),
        sa.Column("subject", sa.String(20), nullable=True, comment="the ID number, masked"),
        sa.Column("result", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_personal_data_access"),
    )
    op.create_index("ix_personal_data_access_at", "personal_data_access", ["at"])


def downgrade() -> None:
    op.drop_index("ix_personal_data_access_at", "personal_data_access")
    op.drop_table("personal_data_access")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("personal_data")
