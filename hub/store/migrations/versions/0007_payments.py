"""Online fee payments through the DVCQG payment platform: the ledger of transactions and every
verified callback, whose uniqueness makes a replayed callback harmless.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payment_transactions",
        sa.Column("id", sa.String(36), nullable=False, comment="UUIDv7"),
        sa.Column("partner", sa.String(50), nullable=False, comment="MaDoiTac"),
        sa.Column("reference", sa.String(100), nullable=False, comment="MaThamChieu"),
        sa.Column("amount", sa.BigInteger(), nullable=False, comment="SoTien, whole VND"),
        sa.Column("currency", sa.String(3), nullable=False, comment="MaTienTe (VND)"),
        sa.Column("dossier", sa.String(100), nullable=True, comment="ThongTinBienLai.MaHoSo"),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("system_code", sa.String(64), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("payment_url", sa.Text(), nullable=True, comment="UrlThanhToan"),
        sa.Column("transaction_id", sa.String(100), nullable=True, comment="MaGiaoDich"),
        sa.Column("result_code", sa.String(20), nullable=True, comment="MaLoi"),
        sa.Column("settled_at", Ts, nullable=True),
        sa.Column("initiated_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.Column("checked_at", Ts, nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_payment_transactions"),
        sa.UniqueConstraint(
            "partner", "reference", name="uq_payment_transactions_partner_reference"
        ),
    )
    op.create_index(
        "ix_payment_transactions_state_initiated",
        "payment_transactions",
        ["state", "initiated_at"],
    )
    op.create_index("ix_payment_transactions_reference", "payment_transactions", ["reference"])
    op.create_table(
        "payment_callbacks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", Ts, nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=True),
        sa.Column("partner", sa.String(50), nullable=False, comment="MaDoiTac"),
        sa.Column("reference", sa.String(100), nullable=False, comment="MaThamChieu"),
        sa.Column("transaction_id", sa.String(100), nullable=False, comment="MaGiaoDich"),
        sa.Column("result_code", sa.String(20), nullable=False, comment="MaLoi"),
        sa.Column("amount", sa.BigInteger(), nullable=False, comment="SoTien"),
        sa.Column("currency", sa.String(10), nullable=False, comment="MaTienTe"),
        sa.Column("bank", sa.String(50), nullable=False, comment="MaNganHang"),
        sa.Column("paid_time", sa.String(40), nullable=False, comment="ThoiGianGD as sent"),
        sa.Column("settled_at", Ts, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payment_callbacks"),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payment_transactions.id"],
            name="fk_payment_callbacks_payment_id_payment_transactions",
        ),
        sa.UniqueConstraint(
            "partner",
            "reference",
            "transaction_id",
            "result_code",
            name="uq_payment_callbacks_partner_reference",
        ),
    )
    op.create_index("ix_payment_callbacks_received", "payment_callbacks", ["received_at"])
    op.create_index("ix_payment_callbacks_payment", "payment_callbacks", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_callbacks_payment", "payment_callbacks")
    op.drop_index("ix_payment_callbacks_received", "payment_callbacks")
    op.drop_table("payment_callbacks")
    op.drop_index("ix_payment_transactions_reference", "payment_transactions")
    op.drop_index("ix_payment_transactions_state_initiated", "payment_transactions")
    op.drop_table("payment_transactions")
