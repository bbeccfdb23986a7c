"""edXML documents and status messages: what the hub read in each (``edocs``) and, per
recipient, how it goes there and how far it got (``edoc_recipients``).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "edocs",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False, comment="'edoc' (a document) or 'status'"),
        sa.Column(
            "document_id",
            sa.String(300),
            nullable=True,
            comment="a document's DocumentId; a status message's ResponseFor/DocumentId",
        ),
        sa.Column(
            "business_type",
            sa.String(2),
            nullable=True,
            comment="0 new, 1 revoke, 2 update, 3 replace",
        ),
        sa.Column(
            "status_code", sa.String(4), nullable=True, comment="a status message's StatusCode"
        ),
        sa.Column("sender", sa.String(64), nullable=False, comment="From/OrganId, resolved"),
        sa.Column(
            "sender_original", sa.String(64), nullable=False, comment="From/OrganId as written"
        ),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column(
            "direction",
            sa.String(8),
            nullable=False,
            comment="'out' from a local system, 'in' from VDXP",
        ),
        sa.Column(
            "signature",
            sa.String(20),
            nullable=False,
            comment="verified, unsigned or legacy_sha1",
        ),
        sa.Column("signer", sa.String(300), nullable=True, comment="the certificate subject"),
        sa.Column(
            "warnings", sa.JSON(), nullable=False, comment="deviations found on input, by field"
        ),
        sa.Column(
            "attachments",
            sa.JSON(),
            nullable=False,
            comment="[{content_id, name, content_type, size, sha256, ref}]: decoded into the blobs",
        ),
        sa.Column("outgoing_ref", sa.String(200), nullable=True, comment="blob: the edXML sent on"),
        sa.Column("outgoing_size", sa.BigInteger(), nullable=True),
        sa.Column("outgoing_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_edocs_document", "edocs", ["document_id", "kind"])
    op.create_table(
        "edoc_recipients",
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False, comment="agency code, resolved"),
        sa.Column(
            "recipient_original",
            sa.String(64),
            nullable=False,
            comment="as the document named it",
        ),
        sa.Column("channel", sa.String(8), nullable=False, comment="inbox, push or axis (VDXP)"),
        sa.Column(
            "system_code",
            sa.String(64),
            nullable=True,
            comment="inbox: the system that picks it up",
        ),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column(
            "state",
            sa.String(24),
            nullable=False,
            comment="sent, arrived … finished, rejected",
        ),
        sa.Column("state_at", Ts, nullable=False),
        sa.Column("confirmed_at", Ts, nullable=True, comment="inbox: the system confirmed receipt"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("message_id", "recipient"),
    )
    op.create_index("ix_edoc_recipients_inbox", "edoc_recipients", ["system_code", "confirmed_at"])
    op.create_index("ix_edoc_recipients_delivery", "edoc_recipients", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_edoc_recipients_delivery", table_name="edoc_recipients")
    op.drop_index("ix_edoc_recipients_inbox", table_name="edoc_recipients")
    op.drop_table("edoc_recipients")
    op.drop_index("ix_edocs_document", table_name="edocs")
    op.drop_table("edocs")
