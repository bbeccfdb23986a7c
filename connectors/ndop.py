"""NDOP connector: the National Data Center's data sharing and coordination platform (Nền tảng
điều phối, chia sẻ dữ liệu của Trung tâm dữ liệu quốc gia).

Decree 278/2025/NĐ-CP routes all mandatory data sharing through NDOP by 31/12/2026, so that it
can be supervised, traced and evaluated. **NDOP's API is not public.** This type is therefore
the NDXP pattern (:mod:`connectors.ndxp`), unchanged and entirely configurable: an OAuth2
client-credentials token (``token_url``, ``consumer_key``, ``consumer_secret_env``/``_file``),
then ``POST {url}/{context}/{version}/{resource}`` with the message's JSON, answered in the
envelope ``{code, status, correlationId, response}``; the envelope codes
(``success_codes``/``transient_codes``) and header names are configuration with the NDXP
defaults. When NDOP publishes its interface, what differs belongs here, not in a copy of NDXP.

It is a type of its own (``ndop``) so that instances, routes and audit reports say which
platform a call went through — the point of Decree 278 — even while the protocol is shared.
"""

from __future__ import annotations

from connectors.ndxp import NdxpConnector

__all__ = ["NdopConnector"]


class NdopConnector(NdxpConnector):
    """A national service through NDOP: the NDXP protocol until NDOP's own is published."""

    type_name = "ndop"
