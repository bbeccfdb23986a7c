"""The payment settings: environment variables ``LGSP_PAYMENT_*`` (or the ``.lgsp.env`` file),
kept beside the feature rather than in ``hub.config`` so that payments add settings without
touching the hub's own. Each has a default that works as it is.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PaymentSettings", "payment_settings"]


class PaymentSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LGSP_PAYMENT_", env_file=".lgsp.env", env_file_encoding="utf-8", extra="ignore"
    )

    service: str = Field(
        "payment.init",
        min_length=1,
        max_length=100,
        description="The synchronous hub service an INIT is a call of: its access rules say "
        "who may initiate payments, its route which payment connector instance serves them.",
    )
    max_body_bytes: int = Field(
        64 * 1024,
        gt=0,
        description="Larger INIT or callback bodies are refused (413) without being read whole.",
    )
    reconcile_after_seconds: float = Field(
        30 * 60.0,
        gt=0,
        description="A payment still unknown this long after its INIT is re-queried.",
    )
    reconcile_window_seconds: float = Field(
        3 * 24 * 3600.0,
        gt=0,
        description="After this long an unknown payment is 'unresolved': an admin must look.",
    )
    callback_reply: dict[str, str] = Field(
        {"error_code": "0", "message": "{outcome}", "MaThamChieu": "{MaThamChieu}"},
        description="The body answering an accepted callback (the platform's expected reply is "
        "not public). {MaThamChieu}, {MaGiaoDich} and {outcome} are replaced in its values.",
    )


@lru_cache
def payment_settings() -> PaymentSettings:
    return PaymentSettings()
