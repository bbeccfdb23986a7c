"""Indexes for the console's searches at a million messages. A search is newest first by id
(UUIDv7, so by time) with a page limit: an index that ends in ``id`` after the filtered columns
hands the rows over in that order and the search stops at the page's end, where the indexes
ending in ``created_at`` made the database fetch and sort every matching row (seconds for a
common status). The sender's and the service's ``created_at`` indexes served nothing else and
are replaced; ``(status, created_at)`` stays for parking and the overview. A recipient is
looked up through its deliveries.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ADDED = [
    ("ix_messages_status_id", "messages", ["status", "id"]),
    ("ix_messages_service_id", "messages", ["service_code", "id"]),
    ("ix_messages_service_status_id", "messages", ["service_code", "status", "id"]),
    ("ix_messages_sender_id", "messages", ["sender_system", "id"]),
    ("ix_messages_agency_id", "messages", ["sender_agency", "id"]),
    ("ix_deliveries_recipient", "deliveries", ["recipient", "message_id"]),
]
REPLACED = [
    ("ix_messages_sender_created", "messages", ["sender_system", "created_at"]),
    ("ix_messages_service_created", "messages", ["service_code", "created_at"]),
]


def upgrade() -> None:
    for name, table, _ in REPLACED:
        op.drop_index(name, table)
    for name, table, columns in ADDED:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in ADDED:
        op.drop_index(name, table)
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
