"""Errors of the payments service, grafted onto ``core.errors`` like the connector's.

::

    ClientError                 400
    ├── MalformedWebhook        400 malformed_webhook     body is not an Asaas event
    └── Conflict                409
        ├── IntegrationMissing  409 asaas_not_configured  the tenant has no Asaas integration
        └── IntentNotPayable    409 intent_not_payable    wrong method or already settled
"""

from __future__ import annotations

from core.errors import ClientError, Conflict


class MalformedWebhook(ClientError):
    status = 400
    code = "malformed_webhook"


class IntegrationMissing(Conflict):
    code = "asaas_not_configured"


class IntentNotPayable(Conflict):
    code = "intent_not_payable"


__all__ = ["IntegrationMissing", "IntentNotPayable", "MalformedWebhook"]
