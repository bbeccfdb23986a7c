"""The hub's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them;
nothing here calls ``create_all``.

Registry: agencies, systems (API clients), services, access_rules, connector_instances, routes.
The agency directory (hub.directory): agency_aliases (other spellings of a code),
agency_history (every change of an agency), system_agencies (which agencies a system speaks
for).
Traffic: messages, deliveries (one per route target), message_events (the trace, hash-chained
per message), outbox (transactional hand-over to the broker), idempotency_keys.
Security and operations: denials, audit_log, circuits (one per connector instance).
Uploaded schemas and mappings, every version kept: documents.
Online fee payments (DVCQG payment platform): payment_transactions (the ledger),
payment_callbacks (every verified callback, the idempotency gate).
Embedded broker: queue_items.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "edoc_recipients",
    "edocs",
    "access_rules",
    "agencies",
    "agency_aliases",
    "agency_history",
    "audit_log",
    "circuits",
    "connector_instances",
    "deliveries",
    "denials",
    "documents",
    "idempotency_keys",
    "message_events",
    "messages",
    "metadata",
    "outbox",
    "payment_callbacks",
    "payment_transactions",
    "personal_data_access",
    "queue_items",
    "routes",
    "services",
    "system_agencies",
    "systems",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger autoincrement keys that SQLite also numbers (it only does so for INTEGER).
AutoId = BigInteger().with_variant(Integer(), "sqlite")

Ts = DateTime(timezone=True)

agencies = Table(
    "agencies",
    metadata,
    Column("code", String(64), primary_key=True, comment="QĐ 20/2020 code, e.g. 000.00.00.H49"),
    Column("name", String(300), nullable=False),
    Column("parent_code", String(64), ForeignKey("agencies.code"), nullable=True),
    Column("level", Integer, nullable=True, comment="1 central … 4 commune"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Ts, nullable=False),
    Column("state", String(8), nullable=False, default="active", comment="active, closed, merged"),
    Column(
        "successor_code",
        String(64),
        ForeignKey("agencies.code"),
        nullable=True,
        comment="the agency it was merged into (state merged)",
    ),
    Column("valid_from", Date, nullable=True, comment="the code in force from (null: always)"),
    Column("valid_to", Date, nullable=True, comment="… until, exclusive (null: still)"),
    Column(
        "document_system",
        String(64),
        # agencies and systems name each other: created after both, dropped before
        ForeignKey("systems.code", use_alter=True),
        nullable=True,
        comment="the registered system that receives this agency's documents",
    ),
    Column("name_key", String(300), nullable=True, comment="the name folded, for search"),
    Index("ix_agencies_parent_code", "parent_code"),
    Index("ix_agencies_successor_code", "successor_code"),
)

agency_aliases = Table(
    "agency_aliases",
    metadata,
    Column("alias", String(64), primary_key=True, comment="e.g. H56.14, a system account"),
    Column("agency_code", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("note", String(300), nullable=True),
    Column("created_at", Ts, nullable=False),
    Index("ix_agency_aliases_agency_code", "agency_code"),
)

agency_history = Table(
    "agency_history",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("agency_code", String(64), nullable=False, comment="no foreign key: history stays"),
    Column("at", Ts, nullable=False),
    Column(
        "change",
        String(16),
        nullable=False,
        comment="create, rename, reparent, merge, close, reopen, update, alias_add, alias_remove",
    ),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("actor", String(64), nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_agency_history_agency_code_id", "agency_code", "id"),
)

systems = Table(
    "systems",
    metadata,
    Column("code", String(64), primary_key=True, comment="client system code, unique"),
    Column("agency_code", String(64), ForeignKey("agencies.code"), nullable=False),
    Column("name", String(300), nullable=False),
    Column("role", String(16), nullable=False, comment="'system' or 'admin'"),
    Column("key_prefix", String(16), nullable=False, unique=True, comment="public key id"),
    Column("key_hash", String(128), nullable=False, comment="scrypt hash of the API key"),
    Column("active", Boolean, nullable=False, default=True),
    Column("previous_key_prefix", String(16), nullable=True, comment="before the last rotation"),
    Column("previous_key_hash", String(128), nullable=True),
    Column("previous_key_until", Ts, nullable=True, comment="the old key is refused after this"),
    Column("key_revoked_at", Ts, nullable=True, comment="set: no key of this system is accepted"),
    Column("created_at", Ts, nullable=False),
    Index("ix_systems_previous_key_prefix", "previous_key_prefix"),
)

system_agencies = Table(
    "system_agencies",
    metadata,
    Column("system_code", String(64), ForeignKey("systems.code"), primary_key=True),
    Column("agency_code", String(64), ForeignKey("agencies.code"), primary_key=True),
    Column("subtree", Boolean, nullable=False, default=False, comment="and every descendant"),
    Column("created_at", Ts, nullable=False),
    Index("ix_system_agencies_agency_code", "agency_code"),
)

services = Table(
    "services",
    metadata,
    Column("code", String(100), primary_key=True),
    Column("version", String(20), nullable=False, default="1"),
    Column("name", String(300), nullable=False),
    Column("mode", String(8), nullable=False, comment="'async' (queued) or 'sync' (lookup)"),
    Column("content_type", String(100), nullable=False),
    Column("request_schema", String(200), nullable=True, comment="file name under schemas/"),
    Column("response_schema", String(200), nullable=True),
    Column("retry_budget_seconds", Float, nullable=True, comment="null = the default"),
    Column("unroutable", String(8), nullable=False, default="refuse", comment="or 'park'"),
    Column(
        "personal_data",
        Boolean,
        nullable=False,
        default=False,
        comment="a lookup of citizens' data: grounds required, logged, stored masked",
    ),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Ts, nullable=False),
)

access_rules = Table(
    "access_rules",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("system_code", String(64), ForeignKey("systems.code"), nullable=False),
    Column("service_code", String(100), ForeignKey("services.code"), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Ts, nullable=False),
    UniqueConstraint("system_code", "service_code", name="uq_access_rules_system_service"),
)

connector_instances = Table(
    "connector_instances",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("type", String(50), nullable=False),
    Column("config", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("retry_budget_seconds", Float, nullable=True, comment="null = the default"),
    Column("created_at", Ts, nullable=False),
)

routes = Table(
    "routes",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("service_code", String(100), ForeignKey("services.code"), nullable=True),
    Column("recipient", String(64), nullable=True, comment="agency code; null = any"),
    Column("condition", JSON, nullable=True, comment="content-based rules, see hub.routing"),
    Column("connector", String(100), ForeignKey("connector_instances.name"), nullable=False),
    Column("mapping", String(200), nullable=True),
    Column("priority", Integer, nullable=False, default=100),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Ts, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True, comment="UUIDv7"),
    Column("correlation_id", String(100), nullable=False),
    Column("causation_id", String(100), nullable=True),
    Column("sender_agency", String(64), nullable=False),
    Column("sender_system", String(64), nullable=False),
    Column("service_code", String(100), nullable=True),
    Column("service_version", String(20), nullable=True),
    Column("recipients", JSON, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("payload", LargeBinary, nullable=True, comment="inline when small"),
    Column("blob_ref", String(200), nullable=True, comment="claim check when large"),
    Column("payload_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("document_id", String(300), nullable=True, comment="edXML DocumentId if any"),
    Column("idempotency_key", String(200), nullable=True),
    Column("status", String(20), nullable=False),
    Column("trace_seq", Integer, nullable=False, default=0, comment="seq of the last event"),
    Column("trace_hash", String(64), nullable=True, comment="hash of the last event"),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Index("ix_messages_created", "created_at"),
    Index("ix_messages_status_created", "status", "created_at"),
    Index("ix_messages_correlation", "correlation_id"),
    Index("ix_messages_document", "document_id"),
    # searches are newest first by id: these hand rows over in that order (migration 0011)
    Index("ix_messages_status_id", "status", "id"),
    Index("ix_messages_service_id", "service_code", "id"),
    Index("ix_messages_service_status_id", "service_code", "status", "id"),
    Index("ix_messages_sender_id", "sender_system", "id"),
    Index("ix_messages_agency_id", "sender_agency", "id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("message_id", String(36), ForeignKey("messages.id"), nullable=False),
    Column("route", String(100), nullable=False),
    Column("connector", String(100), nullable=False),
    Column("mapping", String(200), nullable=True),
    Column("recipient", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Ts, nullable=True),
    Column("remote_status", String(100), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("queued_at", Ts, nullable=True, comment="the retry budget counts from here"),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Index("ix_deliveries_message", "message_id"),
    Index("ix_deliveries_status_updated", "status", "updated_at"),
    Index("ix_deliveries_recipient", "recipient", "message_id"),
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False),
    Column("delivery_id", String(36), nullable=True),
    Column("seq", Integer, nullable=False, comment="order within the message's trace"),
    Column("event", String(20), nullable=False),
    Column("at", Ts, nullable=False),
    Column("attempt", Integer, nullable=True),
    Column("connector", String(100), nullable=True),
    Column("remote_status", String(100), nullable=True),
    Column("error_code", String(50), nullable=True),
    Column("error", Text, nullable=True),
    Column("size_in", BigInteger, nullable=True),
    Column("size_out", BigInteger, nullable=True),
    Column("duration_ms", Float, nullable=True),
    Column("details", JSON, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("message_id", "seq", name="uq_message_events_message_seq"),
    Index("ix_message_events_at", "at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False),
    Column("queue", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("published_at", Ts, nullable=True),
    Index("ix_outbox_unpublished", "published_at", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("sender_system", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("created_at", Ts, nullable=False),
)

denials = Table(
    "denials",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", Ts, nullable=False),
    Column("system_code", String(64), nullable=True),
    Column("service_code", String(100), nullable=True),
    Column("action", String(100), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("remote_addr", String(64), nullable=True),
    Column("count", Integer, nullable=False, default=1, comment="identical refusals folded in"),
    Index("ix_denials_at", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", Ts, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(300), nullable=True),
    Column("reason", Text, nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True, comment="SHA-256 of the cookie's token"),
    Column("system_code", String(64), nullable=False, comment="the admin who logged in"),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("last_seen_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False, comment="idle limit, moved on each request"),
    Column("ends_at", Ts, nullable=False, comment="absolute limit from login"),
    Column("ended_at", Ts, nullable=True, comment="logout"),
    Column("remote_addr", String(64), nullable=True),
    Index("ix_console_sessions_expires", "expires_at"),
)

circuits = Table(
    "circuits",
    metadata,
    Column("connector", String(100), primary_key=True),
    Column("state", String(10), nullable=False, comment="closed, open or half_open"),
    Column("failures", Integer, nullable=False, default=0, comment="consecutive transient"),
    Column("opened_at", Ts, nullable=True),
    Column("probe_at", Ts, nullable=True, comment="when an open circuit is probed next"),
    Column("last_error", Text, nullable=True),
    Column("updated_at", Ts, nullable=False),
)

documents = Table(
    "documents",
    metadata,
    Column("kind", String(10), primary_key=True, comment="schema or mapping"),
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, comment="1, 2, … per kind and name"),
    Column("content", Text, nullable=False, comment="the document as uploaded"),
    Column("examples", JSON, nullable=True, comment="a mapping's example pairs"),
    Column("sha256", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", Ts, nullable=False),
)

queue_items = Table(
    "queue_items",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("queue", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("visible_at", Float, nullable=False, comment="epoch seconds; leased until then"),
    Column("lease", String(36), nullable=True),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Index("ix_queue_items_claim", "queue", "visible_at", "id"),
)

personal_data_access = Table(
    "personal_data_access",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", Ts, nullable=False),
    Column("message_id", String(36), nullable=False, comment="the call's message (its trace)"),
    Column("service_code", String(100), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("system_code", String(64), nullable=False),
    Column("officer", String(300), nullable=False, comment="X-LGSP-Officer, as given"),
    Column("purpose", String(300), nullable=False, comment="X-LGSP-Purpose, as given"),
    Column("subject", String(20), nullable=True, comment="the looked-up ID number, masked"),
    Column("result", String(12), nullable=False, comment="found, not_found, answered, failed"),
    Index("ix_personal_data_access_at", "at"),
)

payment_transactions = Table(
    "payment_transactions",
    metadata,
    Column("id", String(36), primary_key=True, comment="UUIDv7"),
    Column("partner", String(50), nullable=False, comment="MaDoiTac: the hub at the platform"),
    Column("reference", String(100), nullable=False, comment="MaThamChieu, unique per partner"),
    Column("amount", BigInteger, nullable=False, comment="SoTien, whole VND"),
    Column("currency", String(3), nullable=False, comment="MaTienTe (VND)"),
    Column("dossier", String(100), nullable=True, comment="ThongTinBienLai.MaHoSo"),
    Column("connector", String(100), nullable=False, comment="the instance that served INIT"),
    Column("system_code", String(64), nullable=False, comment="the initiating system"),
    Column("agency", String(64), nullable=False, comment="the initiating system's agency"),
    Column("message_id", String(36), nullable=False, comment="the INIT call's message"),
    Column(
        "state",
        String(12),
        nullable=False,
        comment="initiated, pending, paid, failed or unresolved (see hub.payments.ledger)",
    ),
    Column("payment_url", Text, nullable=True, comment="UrlThanhToan"),
    Column("transaction_id", String(100), nullable=True, comment="MaGiaoDich, once known"),
    Column("result_code", String(20), nullable=True, comment="MaLoi of the deciding callback"),
    Column("settled_at", Ts, nullable=True, comment="ThoiGianGD of the payment, if told"),
    Column("initiated_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Column("checked_at", Ts, nullable=True, comment="last reconciliation QUERY"),
    Column("checks", Integer, nullable=False, default=0, comment="reconciliation QUERYs made"),
    UniqueConstraint("partner", "reference", name="uq_payment_transactions_partner_reference"),
    Index("ix_payment_transactions_state_initiated", "state", "initiated_at"),
    Index("ix_payment_transactions_reference", "reference"),
)

payment_callbacks = Table(
    "payment_callbacks",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("received_at", Ts, nullable=False),
    Column(
        "payment_id",
        String(36),
        ForeignKey("payment_transactions.id"),
        nullable=True,
        comment="null: no such transaction in the ledger",
    ),
    Column("partner", String(50), nullable=False, comment="MaDoiTac"),
    Column("reference", String(100), nullable=False, comment="MaThamChieu"),
    Column("transaction_id", String(100), nullable=False, comment="MaGiaoDich ('' if none)"),
    Column("result_code", String(20), nullable=False, comment="MaLoi ('00' = paid)"),
    Column("amount", BigInteger, nullable=False, comment="SoTien as the platform said"),
    Column("currency", String(10), nullable=False, comment="MaTienTe"),
    Column("bank", String(50), nullable=False, comment="MaNganHang"),
    Column("paid_time", String(40), nullable=False, comment="ThoiGianGD as sent (signed so)"),
    Column("settled_at", Ts, nullable=True, comment="ThoiGianGD read; null if unreadable"),
    Column(
        "outcome",
        String(20),
        nullable=False,
        comment="paid, failed, stale, amount_mismatch, conflict or unknown_transaction",
    ),
    Column("status", Integer, nullable=False, comment="the HTTP status answered (and replayed)"),
    Column("warning", Text, nullable=True, comment="e.g. a 12-hour ThoiGianGD"),
    Column("connector", String(100), nullable=False, comment="whose secret verified it"),
    Column("remote_addr", String(64), nullable=True),
    UniqueConstraint(
        "partner",
        "reference",
        "transaction_id",
        "result_code",
        name="uq_payment_callbacks_partner_reference",
    ),
    Index("ix_payment_callbacks_received", "received_at"),
    Index("ix_payment_callbacks_payment", "payment_id"),
)

# ── documents (edXML) ────────────────────────────────────────────────────────────────────
edocs = Table(
    "edocs",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id"), primary_key=True),
    Column("kind", String(8), nullable=False, comment="'edoc' (a document) or 'status'"),
    Column(
        "document_id",
        String(300),
        nullable=True,
        comment="a document's DocumentId; a status message's ResponseFor/DocumentId",
    ),
    Column(
        "business_type", String(2), nullable=True, comment="0 new, 1 revoke, 2 update, 3 replace"
    ),
    Column("status_code", String(4), nullable=True, comment="a status message's StatusCode"),
    Column("sender", String(64), nullable=False, comment="From/OrganId, resolved"),
    Column("sender_original", String(64), nullable=False, comment="From/OrganId as written"),
    Column("subject", String(500), nullable=True),
    Column(
        "direction", String(8), nullable=False, comment="'out' from a local system, 'in' from VDXP"
    ),
    Column("signature", String(20), nullable=False, comment="verified, unsigned or legacy_sha1"),
    Column("signer", String(300), nullable=True, comment="the certificate subject"),
    Column("warnings", JSON, nullable=False, comment="deviations found on input, by field"),
    Column(
        "attachments",
        JSON,
        nullable=False,
        comment="[{content_id, name, content_type, size, sha256, ref}]: decoded into the blobs",
    ),
    Column("outgoing_ref", String(200), nullable=True, comment="blob: the edXML sent on"),
    Column("outgoing_size", BigInteger, nullable=True),
    Column("outgoing_sha256", String(64), nullable=True),
    Column("created_at", Ts, nullable=False),
    Index("ix_edocs_document", "document_id", "kind"),
)

edoc_recipients = Table(
    "edoc_recipients",
    metadata,
    Column("message_id", String(36), ForeignKey("messages.id"), primary_key=True),
    Column("recipient", String(64), primary_key=True, comment="agency code, resolved"),
    Column("recipient_original", String(64), nullable=False, comment="as the document named it"),
    Column("channel", String(8), nullable=False, comment="inbox, push or axis (VDXP)"),
    Column("system_code", String(64), nullable=True, comment="inbox: the system that picks it up"),
    Column("delivery_id", String(36), nullable=False),
    Column("state", String(24), nullable=False, comment="sent, arrived … finished, rejected"),
    Column("state_at", Ts, nullable=False),
    Column("confirmed_at", Ts, nullable=True, comment="inbox: the system confirmed receipt"),
    Index("ix_edoc_recipients_inbox", "system_code", "confirmed_at"),
    Index("ix_edoc_recipients_delivery", "delivery_id"),
)
