"""Online fee payments through the DVCQG payment platform (protocol 1.0.6).

A citizen pays a dossier's fees on the platform's page; the hub keeps the ledger that says,
for every fee, whether it was paid. The concepts, one module each:

* ``initiate`` — ``POST /v1/payments``: an INIT is a call of the synchronous service
  ``payment.init`` (access rules, routing, trace as for any call), then a ledger row;
* ``ledger`` — the transactions and the only place their state changes;
* ``callbacks`` — the platform's callback, authenticated by its checksum alone;
* ``partner`` — QUERY and GET_BILL of one transaction through its connector instance;
* ``reconcile`` — re-querying the transactions whose outcome the hub never heard.

Their settings are the hub's, ``LGSP_PAYMENT_*`` (``hub.config``).

The protocol itself (checksums, ``ThoiGianGD``) is the payment connector's
(``connectors.payment``), so the hub verifies callbacks with exactly the code that signs its
requests.
"""

from __future__ import annotations

from hub.payments.ledger import State
from hub.payments.reconcile import Report, reconcile

__all__ = ["Report", "State", "reconcile"]
