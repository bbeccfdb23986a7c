"""Schemas and mappings in the registry: uploaded through the API, each upload a new version,
so every replica validates and maps with the same document.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("kind", sa.String(10), nullable=False, comment="schema or mapping"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, comment="1, 2, … per kind and name"),
        sa.Column("content", sa.Text(), nullable=False, comment="the document as uploaded"),
        sa.Column("examples", sa.JSON(), nullable=True, comment="a mapping's example pairs"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "version", name="pk_documents"),
    )


def downgrade() -> None:
    op.drop_table("documents")
