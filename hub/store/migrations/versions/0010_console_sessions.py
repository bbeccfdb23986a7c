"""The admin console's sessions: one row per login, found by the SHA-256 of the cookie's token
(the token itself is never stored), ended by logout or by expiry.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True, comment="SHA-256 of the cookie's token"),
        sa.Column("system_code", sa.String(64), nullable=False, comment="the admin who logged in"),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("last_seen_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False, comment="idle limit, moved on each request"),
        sa.Column("ends_at", Ts, nullable=False, comment="absolute limit from login"),
        sa.Column("ended_at", Ts, nullable=True, comment="logout"),
        sa.Column("remote_addr", sa.String(64), nullable=True),
    )
    op.create_index("ix_console_sessions_expires", "console_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_expires", "console_sessions")
    op.drop_table("console_sessions")
