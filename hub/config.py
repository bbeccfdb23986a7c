"""All settings in one place: environment variables prefixed ``LGSP_`` or a ``.env``-style file.

Every setting has a default that works on a fresh machine: a SQLite file and the embedded broker
under ``./var``. Production points ``LGSP_DATABASE_URL`` at PostgreSQL and ``LGSP_BROKER_URL`` at
RabbitMQ; nothing else changes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CATALOG", "Settings", "get_settings"]

CATALOG = Path(__file__).resolve().parent / "catalog"  # shipped schemas and mappings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LGSP_", env_file=".lgsp.env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("var"), description="Where the SQLite file and blobs live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite in data_dir.")
    broker_url: str = Field(
        "embedded", description="'embedded' (queues in the store) or an amqp:// URL."
    )
    rabbitmq_queue_type: str = Field("classic", description="'classic' or 'quorum'.")
    queue_prefix: str = Field("", description="Put before every queue name (shared brokers).")
    db_pool_size: int = Field(20, ge=1, description="Store connections kept per process.")
    db_busy_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="SQLite: how long a writer waits for the lock before its "
        "request is answered 503 (store_unavailable).",
    )
    db_connect_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="PostgreSQL: give up connecting after this long, so an "
        "unreachable server is a quick 503, not a hung request.",
    )
    db_pool_timeout_seconds: float = Field(
        10.0, gt=0, description="Wait this long for a free pooled connection, then 503."
    )
    blob_dir: Path | None = Field(None, description="Claim-check blobs; default data_dir/blobs.")
    blob_threshold_bytes: int = Field(64 * 1024, ge=0, description="Payloads above go to blobs.")
    max_body_bytes: int = Field(
        128 * 1024 * 1024, gt=0, description="Larger requests get 413; bodies are streamed."
    )
    xml_tree_limit_bytes: int = Field(
        8 * 1024 * 1024,
        gt=0,
        le=10_000_000,
        description="XML above this is checked from its "
        "file as a stream, never as a tree in memory (route XPath conditions see no content "
        "then). At most 10 MB, the longest text node a tree may hold.",
    )

    retry_budget_seconds: float = Field(
        24 * 3600.0,
        gt=0,
        description="Keep retrying a delivery this long (a service or "
        "connector instance may set its own), then dead-letter.",
    )
    retry_max_attempts: int = Field(
        0, ge=0, description="Also dead-letter after this many attempts; 0 = no count limit."
    )
    retry_base_seconds: float = Field(1.0, gt=0, description="First retry delay.")
    retry_max_seconds: float = Field(300.0, gt=0, description="Cap of the backoff.")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="Consecutive transient failures that open a connector's circuit."
    )
    circuit_probe_seconds: float = Field(
        15.0, gt=0, description="How often an open circuit lets one message through to probe."
    )
    lease_seconds: float = Field(30.0, gt=0, description="Embedded broker visibility timeout.")
    worker_threads: int = Field(8, ge=1, description="Concurrent deliveries per worker.")
    relay_batch: int = Field(200, ge=1, description="Outbox rows published per relay round.")
    registry_cache_seconds: float = Field(
        5.0, ge=0, description="How long another process's registry change may take to apply."
    )
    sync_timeout_seconds: float = Field(15.0, gt=0, description="Synchronous service timeout.")
    payment_service: str = Field(
        "payment.init",
        min_length=1,
        max_length=100,
        description="The synchronous service an INIT is a call of (its access rules and route).",
    )
    payment_max_body_bytes: int = Field(
        64 * 1024, gt=0, description="Larger INIT or payment callback bodies are refused (413)."
    )
    payment_reconcile_after_seconds: float = Field(
        30 * 60.0, gt=0, description="A payment still unknown this long after INIT is re-queried."
    )
    payment_reconcile_window_seconds: float = Field(
        3 * 24 * 3600.0,
        gt=0,
        description="After this long an unknown payment is 'unresolved': an admin must look.",
    )
    payment_callback_reply: dict[str, str] = Field(
        {"error_code": "0", "message": "{outcome}", "MaThamChieu": "{MaThamChieu}"},
        description="The body answering an accepted callback (the platform's expected reply is "
        "not public); {MaThamChieu}, {MaGiaoDich} and {outcome} are replaced in its values.",
    )

    edoc_service: str = Field(
        "edoc",
        min_length=1,
        max_length=100,
        description="The queued service that carries edXML documents and status messages "
        "(its access rules; its routes name the VDXP connector and push connectors).",
    )
    edoc_max_body_bytes: int = Field(
        2 * 1024**3, gt=0, description="Larger edXML bodies are refused (413); they are streamed."
    )
    edoc_hub_agency: str | None = Field(
        None,
        max_length=64,
        description="The agency code in the TraceHeader the hub appends (the province's LGSP); "
        "default: the sending agency's.",
    )
    edoc_keys_dir: Path | None = Field(
        None,
        description="Agencies' signing keys, {code}.key.pem and {code}.cert.pem; "
        "default data_dir/keys.",
    )
    edoc_trust_dir: Path | None = Field(
        None,
        description="CA certificates incoming signatures must chain to; default data_dir/trust.",
    )
    edoc_signatures: dict[str, str] = Field(
        {"*": "optional"},
        description="Per sending agency code ('*' = any other): 'required' refuses an unsigned "
        "document, 'optional' accepts it. A signature present is always verified.",
    )
    edoc_sha1_agencies: list[str] = Field(
        [],
        description="Agencies whose legacy RSA-SHA1 signatures are accepted ('*' = all).",
    )
    edoc_require_signing_key: bool = Field(
        False,
        description="Refuse a document from a local agency the hub holds no signing key for, "
        "instead of sending it on unsigned.",
    )

    edoc_axis_system: str = Field(
        "vdxp",
        max_length=64,
        description="The registered system the hub acts as when it submits what it pulled from "
        "VDXP (its access rule to the edoc service; no From check: the axis vouches).",
    )
    edoc_pull_seconds: float = Field(
        10.0,
        ge=0,
        description="How often the relay pulls received documents from each VDXP connector "
        "instance for the province's agencies; 0: never (a scheduled job does it).",
    )

    schema_dir: Path = Field(CATALOG / "schemas", description="JSON Schemas and XSDs by name.")
    mapping_dir: Path = Field(CATALOG / "mappings", description="Mappings by name.")

    host: str = "127.0.0.1"
    port: int = 8080

    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Log lines: json (an object a line, with the message, correlation and "
        "trace ids), text, or auto: text on a terminal, json otherwise.",
    )
    metrics_sample_seconds: float = Field(
        15.0,
        gt=0,
        description="How often queue depths, dead letters and circuit states are read for "
        "/metrics (a scrape itself reads nothing from the store).",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without an API key (for a scraper inside a closed network); "
        "otherwise it needs an admin key.",
    )
    console_idle_minutes: float = Field(
        30.0, gt=0, description="The admin console logs a session out after this long idle."
    )
    console_session_hours: float = Field(
        12.0, gt=0, description="And after this long since login, however busy."
    )
    console_language: str = Field(
        "vi", pattern="^(vi|en)$", description="The console's language until one is chosen."
    )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'lgsp.db').resolve()}"

    @property
    def blob_path(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def keys_path(self) -> Path:
        return self.edoc_keys_dir or self.data_dir / "certs" / "agencies"

    @property
    def trust_path(self) -> Path:
        return self.edoc_trust_dir or self.data_dir / "certs" / "trust"

    @property
    def admin_key_file(self) -> Path:
        """Written once, mode 0600, when the hub first creates its admin system."""
        return self.data_dir / "admin.key"


@lru_cache
def get_settings() -> Settings:
    return Settings()
