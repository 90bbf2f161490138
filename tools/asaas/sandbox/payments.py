"""The payment state machine of the sandbox (reference §6, §8, §9, §11).

Sequences reproduced: Pix ``CREATED → RECEIVED`` (no CONFIRMED); boleto ``CREATED →
CONFIRMED → RECEIVED`` one business day after confirmation; card ``CREATED → CONFIRMED →
RECEIVED`` 32 days after confirmation (rolled to a business day); late payments pass through
``OVERDUE``. Time-based steps run in ``tick`` against the sandbox clock, so
``/v3/sandbox/clock/advance`` fires them. A declined card persists nothing.

Error codes marked "guess" below are not in the reference; the shape always is.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from . import cards
from .config import SandboxConfig
from .store import ApiError, PaymentRec, RefundRec, Store, TokenRec, not_found

BILLING_TYPES = ("UNDEFINED", "BOLETO", "CREDIT_CARD", "PIX")
CARD_CREDIT_DAYS = 32  # "32 dias após PAYMENT_CONFIRMED", not 30
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
CENT = Decimal("0.01")


def _bad(code: str, description: str) -> ApiError:
    return ApiError(400, code, description)


def add_business_days(day: date, n: int) -> date:
    """Weekends only; Brazilian bank holidays are not simulated."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _rolled(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _fee(config: SandboxConfig, billing_type: str, value: Decimal) -> Decimal:
    if billing_type == "PIX":
        fee = config.pix_fee
    elif billing_type == "CREDIT_CARD":
        fee = config.card_fixed_fee + value * config.card_percent_fee / 100
    else:
        fee = config.boleto_fee
    return fee.quantize(CENT, rounding=ROUND_HALF_UP)


def _emit(store: Store, config: SandboxConfig, event: str, rec: PaymentRec) -> None:
    store.emit(event, "payment", render(config, rec))


# --- cards ----------------------------------------------------------------------------


def _authorize(store: Store, customer_id: str, body: dict[str, Any]) -> TokenRec:
    """Run a card through the sandbox's approval rules; a token is minted on approval."""
    card = body.get("creditCard")
    token = body.get("creditCardToken")
    if token and not card:
        known = store.state.tokens.get(str(token))
        if known is None or known.customer != customer_id:  # tokens are bound to a customer
            raise _bad("invalid_creditCard", "Token de cartão de crédito inválido.")  # guess
        return known
    if not isinstance(card, dict) or any(
        not card.get(k) for k in ("holderName", "number", "expiryMonth", "expiryYear", "ccv")
    ):
        raise _bad("invalid_creditCard", "Informe os dados do cartão de crédito.")  # guess
    holder = body.get("creditCardHolderInfo")
    required = ("name", "email", "cpfCnpj", "postalCode", "addressNumber", "phone")
    if not isinstance(holder, dict) or any(not holder.get(k) for k in required):
        raise _bad("invalid_creditCardHolderInfo", "Informe os dados do titular do cartão.")  # guess
    number = cards.digits(str(card["number"]))
    if not cards.approves(number, str(card["expiryMonth"]), str(card["expiryYear"]), store.today()):
        raise _bad("invalid_creditCard", cards.DECLINE_DESCRIPTION)
    rec = TokenRec(
        token=str(uuid.uuid4()),  # a credential: random even when the sandbox is seeded
        customer=customer_id,
        last4=number[-4:],
        brand=cards.brand(number),
    )
    store.state.tokens[rec.token] = rec
    return rec


def _mark_card_confirmed(store: Store, config: SandboxConfig, rec: PaymentRec, card: TokenRec) -> None:
    today = store.today()
    rec.billing_type = "CREDIT_CARD"
    rec.net_value = rec.value - _fee(config, "CREDIT_CARD", rec.value)
    rec.status = "CONFIRMED"
    rec.card_number_last4, rec.card_brand, rec.card_token = card.last4, card.brand, card.token
    rec.confirmed_date = rec.client_payment_date = today
    rec.credit_date = rec.estimated_credit_date = _rolled(today + timedelta(days=CARD_CREDIT_DAYS))


def tokenize(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    customer = store.state.customers.get(str(body.get("customer")))
    if customer is None or customer.deleted:
        raise _bad("invalid_customer", "Customer inválido ou não informado.")
    if not body.get("remoteIp"):
        raise _bad("invalid_remoteIp", "Informe o IP do comprador.")  # guess
    token = _authorize(store, customer.id, {**body, "creditCardToken": None})
    store.touch()
    return {
        "creditCardNumber": token.last4,
        "creditCardBrand": token.brand,
        "creditCardToken": token.token,
    }


# --- payments -------------------------------------------------------------------------


def create(store: Store, config: SandboxConfig, body: dict[str, Any]) -> PaymentRec:
    """``POST /v3/payments``; validation stops at the first error, like Asaas."""
    customer = store.state.customers.get(str(body.get("customer")))
    if customer is None or customer.deleted:
        raise _bad("invalid_customer", "Customer inválido ou não informado.")
    billing_type = body.get("billingType")
    if billing_type not in BILLING_TYPES:
        raise _bad("invalid_billingType", "Informe uma forma de pagamento válida.")
    value = _money(body.get("value"))
    if value is None or value <= 0:
        raise _bad("invalid_value", "Informe o valor da cobrança.")  # guess
    due = _date(body.get("dueDate"))
    if due is None:
        raise _bad("invalid_dueDate", "Informe uma data de vencimento válida.")  # guess
    installments = _money(body.get("installmentCount")) or Decimal(0)
    if installments > 1 or body.get("authorizeOnly"):
        raise _bad("invalid_action", "(Tridium sandbox) parcelamento e pré-autorização não são simulados.")
    charge_card = billing_type == "CREDIT_CARD" and (body.get("creditCard") or body.get("creditCardToken"))
    card: TokenRec | None = None
    if charge_card:
        if not body.get("remoteIp"):
            raise _bad("invalid_remoteIp", "Informe o IP do comprador.")  # guess
        card = _authorize(store, customer.id, body)  # a decline persists nothing
    now = store.now()
    seq = store.next_seq()
    rec = PaymentRec(
        id=store.new_id("pay_"),
        customer=customer.id,
        billing_type=billing_type,
        value=value,
        net_value=value - _fee(config, billing_type, value),
        due_date=due,
        original_due_date=due,
        date_created=now.date(),
        created_at=now,
        seq=seq,
        invoice_number=f"{seq:08d}",
        description=body.get("description"),
        external_reference=body.get("externalReference"),
        postal_service=bool(body.get("postalService", False)),
        nosso_numero=str(10_000_000 + seq) if billing_type in ("BOLETO", "UNDEFINED") else None,
    )
    store.state.payments[rec.id] = rec
    _emit(store, config, "PAYMENT_CREATED", rec)
    if card is not None:
        _mark_card_confirmed(store, config, rec, card)
        _emit(store, config, "PAYMENT_CONFIRMED", rec)
    return rec


def get(store: Store, payment_id: str) -> PaymentRec:
    rec = store.state.payments.get(payment_id)
    if rec is None:
        raise not_found()
    return rec


def _open(store: Store, payment_id: str) -> PaymentRec:
    rec = get(store, payment_id)
    if rec.deleted:
        raise not_found()
    return rec


def update(store: Store, config: SandboxConfig, payment_id: str, body: dict[str, Any]) -> PaymentRec:
    rec = _open(store, payment_id)
    if rec.status not in ("PENDING", "OVERDUE"):
        raise _bad("invalid_action", "Somente cobranças pendentes ou vencidas podem ser alteradas.")
    if "value" in body:
        value = _money(body["value"])
        if value is None or value <= 0:
            raise _bad("invalid_value", "Informe o valor da cobrança.")  # guess
        rec.value, rec.net_value = value, value - _fee(config, rec.billing_type, value)
    if "dueDate" in body:
        due = _date(body["dueDate"])
        if due is None:
            raise _bad("invalid_dueDate", "Informe uma data de vencimento válida.")  # guess
        rec.due_date = due
        if rec.status == "OVERDUE" and due >= store.today():
            rec.status = "PENDING"
    if body.get("billingType") in BILLING_TYPES:
        rec.billing_type = body["billingType"]
    for key, attr in (("description", "description"), ("externalReference", "external_reference")):
        if key in body:
            setattr(rec, attr, body[key])
    _emit(store, config, "PAYMENT_UPDATED", rec)
    return rec


def pay_with_card(store: Store, config: SandboxConfig, payment_id: str, body: dict[str, Any]) -> PaymentRec:
    rec = _open(store, payment_id)
    if rec.status not in ("PENDING", "OVERDUE"):
        raise _bad("invalid_action", "Esta cobrança não pode ser paga.")  # guess
    if rec.billing_type not in ("CREDIT_CARD", "UNDEFINED"):
        raise _bad("invalid_billingType", "A forma de pagamento desta cobrança não é cartão.")
    card = _authorize(store, rec.customer, body)
    _mark_card_confirmed(store, config, rec, card)
    _emit(store, config, "PAYMENT_CONFIRMED", rec)
    return rec


def confirm(store: Store, config: SandboxConfig, payment_id: str) -> PaymentRec:
    """``POST /v3/sandbox/payment/{id}/confirm``: the payer pays (Pix, boleto)."""
    rec = _open(store, payment_id)
    if rec.status not in ("PENDING", "OVERDUE"):
        raise _bad("invalid_action", "Esta cobrança não pode ser confirmada.")
    if rec.billing_type == "CREDIT_CARD":
        raise _bad("invalid_action", "(Tridium sandbox) pague cobranças de cartão com payWithCreditCard.")
    today = store.today()
    rec.client_payment_date = today
    if rec.billing_type == "BOLETO":
        rec.status = "CONFIRMED"
        rec.credit_date = rec.estimated_credit_date = add_business_days(today, 1)
        _emit(store, config, "PAYMENT_CONFIRMED", rec)
    else:  # PIX, or UNDEFINED paid by Pix on the invoice page
        rec.billing_type = "PIX"
        rec.status = "RECEIVED"
        rec.payment_date = rec.credit_date = rec.estimated_credit_date = today
        _emit(store, config, "PAYMENT_RECEIVED", rec)
    return rec


def force_overdue(store: Store, config: SandboxConfig, payment_id: str) -> PaymentRec:
    rec = _open(store, payment_id)
    if rec.status != "PENDING":
        raise _bad("invalid_action", "Somente cobranças pendentes podem vencer.")
    rec.status = "OVERDUE"
    _emit(store, config, "PAYMENT_OVERDUE", rec)
    return rec


def delete(store: Store, config: SandboxConfig, payment_id: str) -> dict[str, Any]:
    rec = _open(store, payment_id)
    if rec.status not in ("PENDING", "OVERDUE"):
        raise _bad("invalid_action", "Somente cobranças pendentes ou vencidas podem ser removidas.")
    rec.deleted = True
    _emit(store, config, "PAYMENT_DELETED", rec)
    return {"deleted": True, "id": rec.id}


def restore(store: Store, config: SandboxConfig, payment_id: str) -> PaymentRec:
    rec = get(store, payment_id)
    if not rec.deleted:
        raise _bad("invalid_action", "Esta cobrança não está removida.")
    rec.deleted = False
    _emit(store, config, "PAYMENT_RESTORED", rec)
    return rec


def refund(store: Store, config: SandboxConfig, payment_id: str, body: dict[str, Any]) -> PaymentRec:
    """Full (no value) or partial refunds whose sum stays within the value."""
    rec = _open(store, payment_id)
    allowed = ("CONFIRMED", "RECEIVED") if rec.billing_type == "CREDIT_CARD" else ("RECEIVED",)
    if rec.status not in allowed:
        raise _bad("invalid_action", "Esta cobrança não pode ser estornada.")
    remaining = rec.value - sum((r.value for r in rec.refunds), Decimal(0))
    amount = remaining if body.get("value") is None else _money(body.get("value"))
    if amount is None or amount <= 0 or amount > remaining:
        raise _bad("invalid_value", "O valor do estorno é inválido.")  # guess
    rec.refunds.append(RefundRec(store.now(), amount, body.get("description")))
    if amount == remaining:
        rec.status = "REFUNDED"
        _emit(store, config, "PAYMENT_REFUNDED", rec)
    else:
        _emit(store, config, "PAYMENT_PARTIALLY_REFUNDED", rec)
    return rec


def tick(store: Store, config: SandboxConfig) -> int:
    """Apply what the calendar makes happen: OVERDUE after the due date, RECEIVED on the
    credit date. Returns how many payments changed."""
    today, changed = store.today(), 0
    for rec in sorted(store.state.payments.values(), key=lambda p: p.seq):
        if rec.deleted:
            continue
        if rec.status == "PENDING" and rec.due_date < today:
            rec.status = "OVERDUE"
            _emit(store, config, "PAYMENT_OVERDUE", rec)
            changed += 1
        elif rec.status == "CONFIRMED" and rec.credit_date and rec.credit_date <= today:
            rec.status = "RECEIVED"
            rec.payment_date = rec.credit_date
            _emit(store, config, "PAYMENT_RECEIVED", rec)
            changed += 1
    return changed


def search(store: Store, query: dict[str, str]) -> list[PaymentRec]:
    """Filters of ``GET /v3/payments`` (§6.5); newest first; deleted ones left out."""
    found = [p for p in store.state.payments.values() if not p.deleted]
    for key, attr in (
        ("customer", "customer"),
        ("billingType", "billing_type"),
        ("status", "status"),
        ("externalReference", "external_reference"),
    ):
        if key in query:
            found = [p for p in found if getattr(p, attr) == query[key]]
    for key, attr in (
        ("dateCreated", "date_created"),
        ("paymentDate", "payment_date"),
        ("dueDate", "due_date"),
        ("estimatedCreditDate", "estimated_credit_date"),
    ):
        for op in ("ge", "le", ""):
            bound = _date(query.get(f"{key}[{op}]" if op else key, ""))
            if bound is None:
                continue
            found = [
                p
                for p in found
                if (day := getattr(p, attr)) is not None
                and (day >= bound if op == "ge" else day <= bound if op == "le" else day == bound)
            ]
    return sorted(found, key=lambda p: p.seq, reverse=True)


# --- rendering ------------------------------------------------------------------------


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def render(config: SandboxConfig, rec: PaymentRec) -> dict[str, Any]:
    """The ``PaymentGetResponseDTO`` shape; billing-type-specific fields only where they
    apply, null relational fields (subscription, installment…) omitted."""
    base = config.public_url.rstrip("/")
    paid = rec.status in ("CONFIRMED", "RECEIVED", "DUNNING_RECEIVED", "REFUNDED")
    out: dict[str, Any] = {
        "object": "payment",
        "id": rec.id,
        "dateCreated": rec.date_created.isoformat(),
        "customer": rec.customer,
        "value": rec.value,
        "netValue": rec.net_value,
        "originalValue": None,
        "interestValue": None,
        "description": rec.description,
        "billingType": rec.billing_type,
        "status": rec.status,
        "dueDate": rec.due_date.isoformat(),
        "originalDueDate": _iso(rec.original_due_date),
        "paymentDate": _iso(rec.payment_date),
        "clientPaymentDate": _iso(rec.client_payment_date),
        "installmentNumber": None,
        "invoiceUrl": f"{base}/i/{rec.id.removeprefix('pay_')}",
        "invoiceNumber": rec.invoice_number,
        "externalReference": rec.external_reference,
        "deleted": rec.deleted,
        "anticipated": False,
        "anticipable": False,
        "creditDate": _iso(rec.credit_date),
        "estimatedCreditDate": _iso(rec.estimated_credit_date),
        "transactionReceiptUrl": f"{base}/comprovantes/{rec.id}" if paid else None,
        "postalService": rec.postal_service,
        "refunds": [
            {
                "dateCreated": r.date_created.strftime("%Y-%m-%d %H:%M:%S"),
                "status": r.status,
                "value": r.value,
                "description": r.description,
                "transactionReceiptUrl": f"{base}/comprovantes/{rec.id}",
            }
            for r in rec.refunds
        ]
        or None,
    }
    if rec.billing_type in ("BOLETO", "UNDEFINED"):
        out["nossoNumero"] = rec.nosso_numero
        out["bankSlipUrl"] = f"{base}/b/pdf/{rec.id.removeprefix('pay_')}"
    if rec.billing_type == "BOLETO":
        out["canBePaidAfterDueDate"] = True
    if rec.billing_type == "PIX":
        out["pixTransaction"] = None
    if rec.billing_type == "CREDIT_CARD":
        out["confirmedDate"] = _iso(rec.confirmed_date)
        if rec.card_token:
            out["creditCard"] = {
                "creditCardNumber": rec.card_number_last4,
                "creditCardBrand": rec.card_brand,
                "creditCardToken": rec.card_token,
            }
    return out


def _emv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _crc16(data: str) -> str:
    crc = 0xFFFF
    for byte in data.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


def pix_qr_code(store: Store, payment_id: str) -> dict[str, Any]:
    """A BR Code-shaped payload that says SANDBOX; the image is a 1x1 PNG, not a QR."""
    rec = _open(store, payment_id)
    if rec.billing_type == "CREDIT_CARD":
        raise _bad("invalid_billingType", "Esta cobrança não aceita Pix.")
    account = _emv("00", "br.gov.bcb.pix") + _emv("25", f"sandbox.tridium.invalid/pix/{rec.id}")
    payload = (
        "000201010212"
        + _emv("26", account)
        + "52040000530398654"
        + f"{len(f'{rec.value:.2f}'):02d}{rec.value:.2f}"
        + "5802BR"
        + _emv("59", "TRIDIUM ASAAS SANDBOX")
        + _emv("60", "SAO PAULO")
        + _emv("62", _emv("05", "***"))
        + "6304"
    )
    try:
        expires = rec.due_date.replace(year=rec.due_date.year + 1)
    except ValueError:  # 29 February
        expires = rec.due_date.replace(year=rec.due_date.year + 1, day=28)
    return {
        "encodedImage": PNG_1X1,
        "payload": payload + _crc16(payload),
        "expirationDate": f"{expires.isoformat()} 23:59:59",
        "description": rec.description,
    }


def identification_field(store: Store, payment_id: str) -> dict[str, Any]:
    rec = _open(store, payment_id)
    if rec.billing_type not in ("BOLETO", "UNDEFINED"):
        raise _bad("invalid_billingType", "Esta cobrança não é boleto.")
    digits = f"{rec.seq:010d}{int(rec.value * 100):010d}"
    return {
        "identificationField": ("00190000090" + digits + "0" * 26)[:47],
        "nossoNumero": rec.nosso_numero,
        "barCode": ("0019" + digits + "0" * 30)[:44],
    }


__all__ = [
    "add_business_days",
    "confirm",
    "create",
    "delete",
    "force_overdue",
    "get",
    "identification_field",
    "pay_with_card",
    "pix_qr_code",
    "refund",
    "render",
    "restore",
    "search",
    "tick",
    "tokenize",
    "update",
]
