"""Web chat credentials: publishable keys and visitor tokens (no services)."""

from __future__ import annotations

import time
import uuid

import pytest

from core.errors import Unauthorized
from core.tenancy import TenantId
from tools.channels import OutboundPart
from tools.channels.webchat import (
    WebchatConnector,
    inbound_message,
    issue_visitor_token,
    new_publishable_key,
    origin_allowed,
    tenant_of_key,
    verify_visitor_token,
)
from tools.channels.webchat.errors import WidgetMessageRejected

TENANT = TenantId(uuid.uuid4())
ACCOUNT = uuid.uuid4()


def test_publishable_key_names_its_tenant() -> None:
    key = new_publishable_key(TENANT)
    assert tenant_of_key(key) == TENANT
    for bad in ("", "wpk1.not-a-uuid.x", f"wpk2.{TENANT}.x", f"wpk1.{TENANT}."):
        with pytest.raises(Unauthorized):
            tenant_of_key(bad)


def test_visitor_token_verifies_and_refuses_tampering() -> None:
    token, visitor = issue_visitor_token("s3cret", TENANT, ACCOUNT)
    got = verify_visitor_token(token, "s3cret")
    assert got == visitor and got.account_id == ACCOUNT and got.tenant_id == TENANT
    with pytest.raises(Unauthorized):
        verify_visitor_token(token, "other")
    version, _payload, mac = token.split(".")
    # Another visitor's claims under the original mac: refused.
    forged, _ = issue_visitor_token("attacker", TENANT, ACCOUNT, visitor_id="v_someone_else")
    with pytest.raises(Unauthorized):
        verify_visitor_token(f"{version}.{forged.split('.')[1]}.{mac}", "s3cret")
    with pytest.raises(Unauthorized):
        verify_visitor_token(token, "s3cret", now=time.time() + 31 * 24 * 3600)
    with pytest.raises(Unauthorized):
        verify_visitor_token("wvt1.@@@.x", "s3cret")


def test_messages_and_origins() -> None:
    msg = inbound_message("wpk1.k", "v_1", "c1", "oi", None)
    assert (msg.channel, msg.provider_message_id, msg.contact.value) == ("chat", "v_1:c1", "v_1")
    with pytest.raises(WidgetMessageRejected):
        inbound_message("wpk1.k", "v_1", "c2", "   ", None)
    assert origin_allowed("https://shop.example", ["https://shop.example"])
    assert not origin_allowed("https://shop.example.evil", ["https://shop.example"])
    assert not origin_allowed(None, ["https://shop.example"])
    with pytest.raises(WidgetMessageRejected):
        WebchatConnector().validate(OutboundPart(kind="template"))
