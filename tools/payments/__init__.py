"""Payments with Asaas: checkout intents, webhook ingestion, reconciliation, drift repair,
webhook provisioning and dunning follow-ups.

Plain async services over ``db`` and the ``tools.asaas`` connector, testable without Ray;
``serve.payments_runtime`` runs the worker and the scheduled drift repair on Ray, the
gateway's ``serve.routers.payments`` exposes them over HTTP. Docs: docs/payments.md.
"""

from .accounts import AsaasAccounts, resolve_api_key
from .dunning import dunning_request, request_dunning
from .errors import IntegrationMissing, IntentNotPayable, MalformedWebhook
from .intents import CardPayment, CustomerData, IntentRequest, confirm_card, create_intent, intent_id_for, intent_view
from .policy import DunningPolicy
from .provisioning import PAYMENT_EVENTS, configure_asaas, provision_webhook
from .reconcile import Change, DriftReport, apply_payment, reconcile_event, repair_drift
from .status import PAID, RANKS, is_paid, rank, should_apply
from .webhooks import (
    IngestBatcher,
    Ingested,
    TokenHashCache,
    ingest,
    new_webhook_token,
    parse_event,
    tenant_of_token,
    token_hash,
)
from .worker import GROUP, PaymentsWorker, drift_window_start, tenants_with_asaas

__all__ = [
    "GROUP",
    "PAID",
    "PAYMENT_EVENTS",
    "RANKS",
    "AsaasAccounts",
    "CardPayment",
    "Change",
    "CustomerData",
    "DriftReport",
    "DunningPolicy",
    "Ingested",
    "IntegrationMissing",
    "IntentNotPayable",
    "IntentRequest",
    "MalformedWebhook",
    "PaymentsWorker",
    "IngestBatcher",
    "TokenHashCache",
    "apply_payment",
    "configure_asaas",
    "confirm_card",
    "create_intent",
    "drift_window_start",
    "dunning_request",
    "ingest",
    "intent_id_for",
    "intent_view",
    "is_paid",
    "new_webhook_token",
    "parse_event",
    "provision_webhook",
    "rank",
    "reconcile_event",
    "repair_drift",
    "request_dunning",
    "resolve_api_key",
    "should_apply",
    "tenant_of_token",
    "tenants_with_asaas",
    "token_hash",
]
