"""Keep the tail of each message's trace (last seq and hash) on the message row, so appending
an event locks and reads one row instead of joining over the events.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("trace_seq", sa.Integer(), nullable=False,
                                   server_default="0", comment="seq of the last event"))
        batch.add_column(sa.Column("trace_hash", sa.String(64), nullable=True,
                                   comment="hash of the last event"))
    events = sa.table("message_events", sa.column("message_id"), sa.column("seq"),
                      sa.column("hash"))
    messages = sa.table("messages", sa.column("id"), sa.column("trace_seq"),
                        sa.column("trace_hash"))
    last = (sa.select(sa.func.max(events.c.seq)).where(events.c.message_id == messages.c.id)
            .scalar_subquery())
    op.execute(messages.update().values(trace_seq=sa.func.coalesce(last, 0)))
    tail_hash = (sa.select(events.c.hash).where(events.c.message_id == messages.c.id,
                                                 events.c.seq == messages.c.trace_seq)
                 .scalar_subquery())
    op.execute(messages.update().values(trace_hash=tail_hash))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("trace_hash")
        batch.drop_column("trace_seq")
