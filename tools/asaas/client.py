"""Async connector for the Asaas v3 API (customers, payments, Pix, cards, dunnings, webhooks).

One ``AsaasClient`` per Asaas account, over the process's single ``httpx.AsyncClient``
(created and closed by the caller). The same code talks to the real Asaas, to Asaas's own
sandbox, and to our local sandbox server: only ``AsaasConfig.base_url`` differs.

Retries: see ``_transport``. Creates and charges are never blindly repeated; use
``create_payment_once`` when a payment must exist exactly once for an internal intent, and
``create_payment_dunning_once`` for a payment's dunning.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from ._transport import Retry, Transport
from .config import AsaasConfig
from .dunning import (
    CLOSED_DUNNING_STATUSES,
    DunningStatus,
    PaymentDunning,
    PaymentDunningCreate,
    PaymentDunningFilter,
    PaymentDunningSimulation,
)
from .errors import AsaasError, AsaasNotFound, AsaasOutcomeUnknown, AsaasRequestRejected, AsaasUnavailable
from .models import (
    AsaasModel,
    CreditCardToken,
    CreditCardTokenize,
    Customer,
    CustomerCreate,
    DeleteResult,
    Page,
    Payment,
    PaymentCreate,
    PaymentFilter,
    PayWithCreditCard,
    PixQrCode,
    RefundRequest,
    Webhook,
    WebhookCreate,
    WebhookUpdate,
)

logger = logging.getLogger("tridium.tools.asaas")

M = TypeVar("M", bound=BaseModel)
Item = TypeVar("Item", Customer, Payment, PaymentDunning, Webhook)

TOKENIZE_PATH = "/v3/creditCard/tokenizeCreditCard"  # the spec's path
TOKENIZE_FALLBACK_PATH = "/v3/creditCard/tokenize"  # the guides' older path
MAX_PAGE = 100  # Asaas's maximum ``limit``


class AsaasClient:
    """Typed calls to Asaas; every failure is an ``AsaasError`` (``tools.asaas.errors``)."""

    def __init__(self, http: httpx.AsyncClient, config: AsaasConfig) -> None:
        self._config = config
        self._transport = Transport(http, config)
        # One create at a time per intent inside this process; across processes the
        # caller's idempotency key (Postgres) serialises intents.
        self._intent_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # --- plumbing -------------------------------------------------------------------

    async def _call(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        retry: Retry,
        body: AsaasModel | None = None,
        params: dict[str, Any] | None = None,
        http_timeout_s: float | None = None,
        files: Any = None,
    ) -> M:
        response = await self._transport.request(
            method,
            path,
            retry=retry,
            json=None if body is None else body.to_body(),
            params=params,
            http_timeout_s=http_timeout_s,
            files=files,
        )
        return model.model_validate_json(response.content)

    async def _page(self, item: type[Item], path: str, params: dict[str, Any], offset: int, limit: int) -> Page[Item]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        query = {**params, "offset": offset, "limit": limit}
        return await self._call(Page[item], "GET", path, retry=Retry.SAFE, params=query)  # type: ignore[valid-type]

    async def _iterate(
        self, item: type[Item], path: str, params: dict[str, Any], page_size: int
    ) -> AsyncIterator[Item]:
        """Walk ``offset``/``limit`` pages while ``hasMore``.

        Lists are newest first, so an item created meanwhile shifts later pages by one and
        an item would be seen twice: we skip ids already yielded.
        """
        offset, seen = 0, set[str]()
        while True:
            page = await self._page(item, path, params, offset, page_size)
            for entity in page.data:
                if entity.id not in seen:
                    seen.add(entity.id)
                    yield entity
            if not page.has_more or not page.data:
                return
            offset += len(page.data)

    # --- customers ------------------------------------------------------------------

    async def create_customer(self, data: CustomerCreate) -> Customer:
        """Create a customer. Asaas accepts duplicates: prefer ``ensure_customer``."""
        return await self._call(Customer, "POST", "/v3/customers", retry=Retry.UNSENT_ONLY, body=data)

    async def get_customer(self, customer_id: str) -> Customer:
        return await self._call(Customer, "GET", f"/v3/customers/{customer_id}", retry=Retry.SAFE)

    def list_customers(
        self,
        *,
        cpf_cnpj: str | None = None,
        external_reference: str | None = None,
        email: str | None = None,
        page_size: int = MAX_PAGE,
    ) -> AsyncIterator[Customer]:
        params = {
            k: v
            for k, v in {
                "cpfCnpj": cpf_cnpj,
                "externalReference": external_reference,
                "email": email,
            }.items()
            if v is not None
        }
        return self._iterate(Customer, "/v3/customers", params, page_size)

    async def find_customer(
        self, *, cpf_cnpj: str | None = None, external_reference: str | None = None
    ) -> Customer | None:
        """The first live customer matching the given key(s), or None."""
        if cpf_cnpj is None and external_reference is None:
            raise ValueError("give cpf_cnpj or external_reference")
        async for customer in self.list_customers(
            cpf_cnpj=cpf_cnpj, external_reference=external_reference, page_size=10
        ):
            if not customer.deleted:
                return customer
        return None

    async def ensure_customer(self, data: CustomerCreate) -> Customer:
        """Find by ``externalReference`` (else CPF/CNPJ) and create only when absent.

        Not atomic across processes: callers that race must serialise on their own key.
        """
        if data.external_reference:
            found = await self.find_customer(external_reference=data.external_reference)
        else:
            found = await self.find_customer(cpf_cnpj=data.cpf_cnpj)
        return found or await self.create_customer(data)

    # --- payments -------------------------------------------------------------------

    def _timeout_for(self, data: BaseModel) -> float | None:
        has_card = getattr(data, "credit_card", None) or getattr(data, "credit_card_token", None)
        return self._config.card_timeout_s if has_card else None

    async def create_payment(self, data: PaymentCreate) -> Payment:
        """Create a charge (Pix, boleto, or card charged at once when card data is given).

        Never repeated after the request may have been sent: a lost answer raises
        ``AsaasUnavailable(request_sent=True)``. A refused card raises ``AsaasCardDeclined``.
        """
        return await self._call(
            Payment,
            "POST",
            "/v3/payments",
            retry=Retry.UNSENT_ONLY,
            body=data,
            http_timeout_s=self._timeout_for(data),
        )

    async def find_payment_by_reference(self, external_reference: str) -> Payment | None:
        """The live payment carrying ``external_reference`` (the oldest if several)."""
        found = [
            p
            async for p in self.list_payments(PaymentFilter(external_reference=external_reference), page_size=10)
            if not p.deleted
        ]
        if len(found) > 1:
            logger.error(
                "asaas: %d payments share externalReference %s; using the oldest",
                len(found),
                external_reference,
            )
        return min(found, key=lambda p: (p.date_created, p.id)) if found else None

    async def create_payment_once(self, intent_external_reference: str, data: PaymentCreate) -> Payment:
        """Create the payment of an internal intent at most once.

        Asaas has no idempotency header, so the intent id travels as ``externalReference``
        and is looked up (1) before creating, which also recovers a payment created by an
        earlier crashed attempt, and (2) after any create whose outcome is unknown, before
        trying again. Raises ``AsaasOutcomeUnknown`` when even the look-up fails: the caller
        must then reconcile later, never create blindly.
        """
        if data.external_reference not in (None, intent_external_reference):
            raise ValueError("data.external_reference must be the intent reference")
        data = data.model_copy(update={"external_reference": intent_external_reference})
        lock = self._intent_locks.setdefault(intent_external_reference, asyncio.Lock())
        async with lock:
            existing = await self.find_payment_by_reference(intent_external_reference)
            if existing is not None:
                return existing
            last: AsaasUnavailable | None = None
            for attempt in range(1, self._config.max_attempts + 1):
                try:
                    return await self.create_payment(data)
                except AsaasUnavailable as exc:
                    last = exc
                logger.warning(
                    "asaas: create for intent %s unknown after attempt %d (%s); looking it up",
                    intent_external_reference,
                    attempt,
                    last,
                )
                await asyncio.sleep(self._config.outcome_settle_s)
                try:
                    existing = await self.find_payment_by_reference(intent_external_reference)
                except AsaasError as exc:
                    raise AsaasOutcomeUnknown(
                        f"payment for intent {intent_external_reference} may exist: {exc}",
                        external_reference=intent_external_reference,
                    ) from exc
                if existing is not None:
                    return existing
            raise AsaasOutcomeUnknown(
                f"payment for intent {intent_external_reference}: no answer after "
                f"{self._config.max_attempts} attempts ({last})",
                external_reference=intent_external_reference,
            ) from last

    async def get_payment(self, payment_id: str) -> Payment:
        return await self._call(Payment, "GET", f"/v3/payments/{payment_id}", retry=Retry.SAFE)

    async def list_payments_page(
        self, filters: PaymentFilter | None = None, *, offset: int = 0, limit: int = 10
    ) -> Page[Payment]:
        """One page of ``GET /v3/payments`` (newest first)."""
        params = (filters or PaymentFilter()).to_query()
        return await self._page(Payment, "/v3/payments", params, offset, limit)

    def list_payments(
        self, filters: PaymentFilter | None = None, *, page_size: int = MAX_PAGE
    ) -> AsyncIterator[Payment]:
        """Every payment matching ``filters``, page after page (for reconciliation)."""
        params = (filters or PaymentFilter()).to_query()
        return self._iterate(Payment, "/v3/payments", params, page_size)

    async def delete_payment(self, payment_id: str) -> DeleteResult:
        """Delete a PENDING/OVERDUE charge. A retried DELETE that finds the charge already
        deleted (its first try succeeded unseen) counts as success."""
        try:
            return await self._call(DeleteResult, "DELETE", f"/v3/payments/{payment_id}", retry=Retry.SAFE)
        except AsaasNotFound:
            payment = await self.get_payment(payment_id)
            if payment.deleted:
                return DeleteResult(deleted=True, id=payment_id)
            raise

    async def refund_payment(self, payment_id: str, data: RefundRequest | None = None) -> Payment:
        """Refund fully (no value) or partially. Not repeated: partial refunds add up."""
        return await self._call(
            Payment,
            "POST",
            f"/v3/payments/{payment_id}/refund",
            retry=Retry.UNSENT_ONLY,
            body=data or RefundRequest(),
        )

    async def get_pix_qr_code(self, payment_id: str) -> PixQrCode:
        return await self._call(PixQrCode, "GET", f"/v3/payments/{payment_id}/pixQrCode", retry=Retry.SAFE)

    # --- dunnings (negativação) ----------------------------------------------------------

    async def create_payment_dunning(self, data: PaymentDunningCreate) -> PaymentDunning:
        """Ask Asaas to start a dunning for an OVERDUE payment (multipart/form-data).

        Never repeated after the request may have been sent (``AsaasUnavailable`` with
        ``request_sent=True``): prefer ``create_payment_dunning_once``.
        """
        return await self._call(
            PaymentDunning, "POST", "/v3/paymentDunnings", retry=Retry.UNSENT_ONLY, files=data.to_multipart()
        )

    async def get_payment_dunning(self, dunning_id: str) -> PaymentDunning:
        return await self._call(PaymentDunning, "GET", f"/v3/paymentDunnings/{dunning_id}", retry=Retry.SAFE)

    async def list_payment_dunnings_page(
        self, filters: PaymentDunningFilter | None = None, *, offset: int = 0, limit: int = 10
    ) -> Page[PaymentDunning]:
        params = (filters or PaymentDunningFilter()).to_query()
        return await self._page(PaymentDunning, "/v3/paymentDunnings", params, offset, limit)

    def list_payment_dunnings(
        self, filters: PaymentDunningFilter | None = None, *, page_size: int = MAX_PAGE
    ) -> AsyncIterator[PaymentDunning]:
        params = (filters or PaymentDunningFilter()).to_query()
        return self._iterate(PaymentDunning, "/v3/paymentDunnings", params, page_size)

    async def find_payment_dunning(self, payment_id: str) -> PaymentDunning | None:
        """The dunning that stands for ``payment_id`` (not cancelled or denied), or None."""
        found = [
            d
            async for d in self.list_payment_dunnings(PaymentDunningFilter(payment=payment_id), page_size=10)
            if d.status not in CLOSED_DUNNING_STATUSES
        ]
        if len(found) > 1:
            logger.error("asaas: %d open dunnings for payment %s; using the first", len(found), payment_id)
        return min(found, key=lambda d: (d.dunning_number or 0, d.id)) if found else None

    async def create_payment_dunning_once(self, data: PaymentDunningCreate) -> PaymentDunning:
        """Request the dunning of ``data.payment`` at most once.

        Like ``create_payment_once``: look the payment's dunning up (1) before creating,
        which also recovers one created by an earlier crashed attempt, and (2) after any
        create whose outcome is unknown, before trying again. ``AsaasOutcomeUnknown`` when
        even the look-up fails: never create blindly then.
        """
        lock = self._intent_locks.setdefault(f"dunning:{data.payment}", asyncio.Lock())
        async with lock:
            existing = await self.find_payment_dunning(data.payment)
            if existing is not None:
                return existing
            last: AsaasUnavailable | None = None
            for attempt in range(1, self._config.max_attempts + 1):
                try:
                    return await self.create_payment_dunning(data)
                except AsaasUnavailable as exc:
                    last = exc
                logger.warning(
                    "asaas: dunning create for %s unknown after attempt %d (%s); looking it up",
                    data.payment,
                    attempt,
                    last,
                )
                await asyncio.sleep(self._config.outcome_settle_s)
                try:
                    existing = await self.find_payment_dunning(data.payment)
                except AsaasError as exc:
                    raise AsaasOutcomeUnknown(
                        f"dunning for payment {data.payment} may exist: {exc}", external_reference=data.payment
                    ) from exc
                if existing is not None:
                    return existing
            raise AsaasOutcomeUnknown(
                f"dunning for payment {data.payment}: no answer after {self._config.max_attempts} attempts ({last})",
                external_reference=data.payment,
            ) from last

    async def simulate_payment_dunning(self, payment_id: str) -> PaymentDunningSimulation:
        """Whether (and at what fee) each dunning type is possible for the payment.
        Changes nothing, so safe to repeat; ``payment`` is a query parameter."""
        return await self._call(
            PaymentDunningSimulation,
            "POST",
            "/v3/paymentDunnings/simulate",
            retry=Retry.SAFE,
            params={"payment": payment_id},
        )

    async def cancel_payment_dunning(self, dunning_id: str) -> PaymentDunning:
        """Cancel (``CANCELLED``, or ``AWAITING_CANCELLATION`` once sent to the bureau). A
        retried cancel refused because the first try already landed counts as success."""
        try:
            return await self._call(
                PaymentDunning, "POST", f"/v3/paymentDunnings/{dunning_id}/cancel", retry=Retry.SAFE
            )
        except AsaasRequestRejected:
            dunning = await self.get_payment_dunning(dunning_id)
            if dunning.status in (DunningStatus.CANCELLED, DunningStatus.AWAITING_CANCELLATION):
                return dunning
            raise

    # --- cards ----------------------------------------------------------------------

    async def pay_with_credit_card(self, payment_id: str, data: PayWithCreditCard) -> Payment:
        """Charge a card against an existing charge; declines raise ``AsaasCardDeclined``."""
        return await self._call(
            Payment,
            "POST",
            f"/v3/payments/{payment_id}/payWithCreditCard",
            retry=Retry.UNSENT_ONLY,
            body=data,
            http_timeout_s=self._config.card_timeout_s,
        )

    async def tokenize_credit_card(self, data: CreditCardTokenize) -> CreditCardToken:
        """Tokenise a card for ``data.customer``. Safe to repeat: a spare token charges
        nothing. Falls back to the guides' older path where the spec's is missing."""
        try:
            return await self._call(CreditCardToken, "POST", TOKENIZE_PATH, retry=Retry.SAFE, body=data)
        except AsaasNotFound:
            return await self._call(CreditCardToken, "POST", TOKENIZE_FALLBACK_PATH, retry=Retry.SAFE, body=data)

    # --- Asaas's sandbox-only actions (api-sandbox.asaas.com and our local sandbox) --

    async def sandbox_confirm_payment(self, payment_id: str) -> Payment:
        """(Asaas sandbox only) simulate the payer paying: Pix → RECEIVED, boleto →
        CONFIRMED."""
        return await self._call(Payment, "POST", f"/v3/sandbox/payment/{payment_id}/confirm", retry=Retry.UNSENT_ONLY)

    async def sandbox_force_overdue(self, payment_id: str) -> Payment:
        """(Asaas sandbox only) force a charge OVERDUE."""
        return await self._call(Payment, "POST", f"/v3/sandbox/payment/{payment_id}/overdue", retry=Retry.UNSENT_ONLY)

    # --- webhooks -------------------------------------------------------------------

    async def create_webhook(self, data: WebhookCreate) -> Webhook:
        return await self._call(Webhook, "POST", "/v3/webhooks", retry=Retry.UNSENT_ONLY, body=data)

    async def list_webhooks(self) -> list[Webhook]:
        return [w async for w in self._iterate(Webhook, "/v3/webhooks", {}, MAX_PAGE)]

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self._call(Webhook, "GET", f"/v3/webhooks/{webhook_id}", retry=Retry.SAFE)

    async def update_webhook(self, webhook_id: str, data: WebhookUpdate) -> Webhook:
        return await self._call(Webhook, "PUT", f"/v3/webhooks/{webhook_id}", retry=Retry.SAFE, body=data)

    async def resume_webhook(self, webhook_id: str) -> Webhook:
        """Re-enable a queue paused after 15 failures; pending events then go out in order."""
        return await self.update_webhook(webhook_id, WebhookUpdate(interrupted=False))

    async def remove_webhook_backoff(self, webhook_id: str) -> None:
        """Clear the penalty so the next delivery is tried now (204)."""
        await self._transport.request("POST", f"/v3/webhooks/{webhook_id}/removeBackoff", retry=Retry.SAFE, json={})

    async def delete_webhook(self, webhook_id: str) -> DeleteResult:
        return await self._call(DeleteResult, "DELETE", f"/v3/webhooks/{webhook_id}", retry=Retry.SAFE)


__all__ = ["AsaasClient"]
