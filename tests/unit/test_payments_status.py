"""Status precedence and webhook tokens, without services."""

from __future__ import annotations

import itertools
import uuid

import pytest

from core.errors import Unauthorized
from core.tenancy import TenantId
from tools.payments import MalformedWebhook, new_webhook_token, parse_event, rank, should_apply, tenant_of_token
from tools.payments.status import RANKS


@pytest.mark.parametrize(
    "sequence",
    [
        ["PENDING", "RECEIVED"],
        ["PENDING", "CONFIRMED", "RECEIVED"],
        ["PENDING", "OVERDUE", "CONFIRMED", "RECEIVED"],
        ["PENDING", "CONFIRMED", "RECEIVED", "REFUNDED"],
        ["PENDING", "OVERDUE", "DUNNING_REQUESTED", "DUNNING_RECEIVED"],
        ["PENDING", "OVERDUE", "DUNNING_REQUESTED", "RECEIVED"],  # paid directly during the dunning
    ],
)
def test_any_arrival_order_converges_on_the_highest_status(sequence: list[str]) -> None:
    for order in itertools.permutations(sequence + sequence[:1]):  # with a duplicate
        current: str | None = None
        for status in order:
            if should_apply(current, status, authoritative=False):
                current = status
        assert current == sequence[-1], order


def test_downward_moves_only_from_a_fresh_api_read() -> None:
    assert not should_apply("CHARGEBACK_DISPUTE", "RECEIVED", authoritative=False)
    assert should_apply("CHARGEBACK_DISPUTE", "RECEIVED", authoritative=True)
    assert not should_apply("RECEIVED", "PENDING", authoritative=True)
    assert not should_apply("REFUNDED", "CHARGEBACK_REQUESTED", authoritative=True)
    assert should_apply("DELETED", "PENDING", authoritative=False)  # restored charges move on
    assert should_apply("DUNNING_REQUESTED", "OVERDUE", authoritative=True)  # dunning cancelled/denied
    assert not should_apply("DUNNING_REQUESTED", "OVERDUE", authoritative=False)
    assert not should_apply("DUNNING_RECEIVED", "OVERDUE", authoritative=True)
    assert rank("SOMETHING_NEW") == 0 and should_apply(None, "SOMETHING_NEW", authoritative=False)
    assert max(RANKS, key=RANKS.__getitem__) == "REFUNDED"


def test_tokens_carry_their_tenant_and_reject_other_shapes() -> None:
    tenant = TenantId(uuid.uuid4())
    token = new_webhook_token(tenant)
    assert 32 <= len(token) <= 255 and tenant_of_token(token) == tenant
    assert new_webhook_token(tenant) != token
    for bad in ("", "x" * 40, f"tdm2.{tenant}.secret", f"tdm1.{tenant}.", "tdm1.not-a-uuid.secret", token + "x" * 200):
        with pytest.raises(Unauthorized):
            tenant_of_token(bad)


def test_event_envelope_validation() -> None:
    event = parse_event(b'{"id": "evt_1&2", "event": "PAYMENT_RECEIVED", "payment": {"id": "pay_1"}}')
    assert (event.event_id, event.event_type, event.payment_id) == ("evt_1&2", "PAYMENT_RECEIVED", "pay_1")
    assert parse_event(b'{"id": "evt_2", "event": "ACCOUNT_STATUS_DOCUMENT_APPROVED"}').payment_id is None
    bad_bodies = [
        b"",
        b"null",
        b'"x"',
        b'{"id": 1, "event": "PAYMENT_CREATED"}',
        b'{"id": "e", "event": "lower"}',
        b'{"id": "e", "event": "PAYMENT_CREATED", "payment": {"id": 5}}',
        b'{"id": "\\u0000", "event": "PAYMENT_X"}',
    ]
    for bad in bad_bodies:
        with pytest.raises(MalformedWebhook):
            parse_event(bad)
