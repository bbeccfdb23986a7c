"""The agency directory: an agency's state (active, closed, merged into a successor), the dates
its code was in force, the system that receives its documents and its name folded for search;
other spellings of a code (aliases); the history of every change; which agencies a registered
system speaks for.

Revision ID: 0008
Revises: 0007
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fold(name: str) -> str:
    """As ``hub.directory.codes.fold`` was when this revision was written (kept here, frozen)."""
    name = name.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def upgrade() -> None:
    # Columns added in place, never in a batch: on SQLite a batch rebuilds the table, and
    # agencies cannot be dropped while systems refer to it. SQLite adds a column's foreign key
    # only inline (alembic adds it as a separate constraint, which SQLite cannot).
    op.add_column(
        "agencies",
        sa.Column(
            "state",
            sa.String(8),
            nullable=False,
            server_default="active",
            comment="active, closed, merged",
        ),
    )
    for name, target in (
        ("successor_code", "agencies"),  # the agency it was merged into (state merged)
        ("document_system", "systems"),  # the system that receives this agency's documents
    ):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(
                f"ALTER TABLE agencies ADD COLUMN {name} VARCHAR(64) "
                f"CONSTRAINT fk_agencies_{name}_{target} REFERENCES {target} (code)"
            )
        else:
            op.add_column(
                "agencies",
                sa.Column(
                    name,
                    sa.String(64),
                    sa.ForeignKey(f"{target}.code", name=f"fk_agencies_{name}_{target}"),
                    nullable=True,
                ),
            )
    op.add_column("agencies", sa.Column("valid_from", sa.Date(), nullable=True))
    op.add_column("agencies", sa.Column("valid_to", sa.Date(), nullable=True))
    op.add_column("agencies", sa.Column("name_key", sa.String(300), nullable=True))
    op.create_index("ix_agencies_parent_code", "agencies", ["parent_code"])
    op.create_index("ix_agencies_successor_code", "agencies", ["successor_code"])
    agencies = sa.table("agencies", sa.column("code"), sa.column("name"), sa.column("name_key"))
    conn = op.get_bind()
    for code, name in conn.execute(sa.select(agencies.c.code, agencies.c.name)).all():
        conn.execute(agencies.update().where(agencies.c.code == code).values(name_key=_fold(name)))
    op.create_table(
        "agency_aliases",
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.Column("note", sa.String(300), nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("alias", name="pk_agency_aliases"),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name="fk_agency_aliases_agency_code_agencies"
        ),
    )
    op.create_index("ix_agency_aliases_agency_code", "agency_aliases", ["agency_code"])
    op.create_table(
        "agency_history",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.Column("at", Ts, nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agency_history"),
    )
    op.create_index("ix_agency_history_agency_code_id", "agency_history", ["agency_code", "id"])
    op.create_table(
        "system_agencies",
        sa.Column("system_code", sa.String(64), nullable=False),
        sa.Column("agency_code", sa.String(64), nullable=False),
        sa.Column("subtree", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("system_code", "agency_code", name="pk_system_agencies"),
        sa.ForeignKeyConstraint(
            ["system_code"], ["systems.code"], name="fk_system_agencies_system_code_systems"
        ),
        sa.ForeignKeyConstraint(
            ["agency_code"], ["agencies.code"], name="fk_system_agencies_agency_code_agencies"
        ),
    )
    op.create_index("ix_system_agencies_agency_code", "system_agencies", ["agency_code"])


def downgrade() -> None:
    op.drop_index("ix_system_agencies_agency_code", "system_agencies")
    op.drop_table("system_agencies")
    op.drop_index("ix_agency_history_agency_code_id", "agency_history")
    op.drop_table("agency_history")
    op.drop_index("ix_agency_aliases_agency_code", "agency_aliases")
    op.drop_table("agency_aliases")
    op.drop_index("ix_agencies_successor_code", "agencies")
    op.drop_index("ix_agencies_parent_code", "agencies")
    with op.batch_alter_table("agencies") as batch:
        for column in (
            "name_key",
            "document_system",
            "valid_to",
            "valid_from",
            "successor_code",
            "state",
        ):
            batch.drop_column(column)
