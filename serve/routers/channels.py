"""Webhooks of the Instagram and e-mail channels. Thin: verify → ``tools.inbox.ingest``.

The tenant is in the path (each tenant's channel account is configured with its own
webhook URL); the signature is checked against that tenant's active accounts before
anything is stored; 200 only after the commit.
"""

from __future__ import annotations

from secrets import token_urlsafe
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from core.errors import Forbidden, Unauthorized
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.channels import email as email_channel
from tools.channels import instagram, webchat
from tools.channels.meta import SIGNATURE_HEADER, verify_challenge
from tools.inbox import SecretBox, active_accounts, ingest

from ..deps import State

router = APIRouter(tags=["channels"])


class ChannelWebhookAck(BaseModel):
    received: bool
    stored: int
    duplicates: int
    ignored: int


def prepare_account(
    tenant_id: TenantId, channel: str, provider: str, external_id: str, secrets: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """A web chat widget provisioned with ``external_id: "new"`` gets a publishable key
    (``wpk1.<tenant>.<random>``) and, if none is given, a ``visitor_secret``."""
    if channel == "chat" and provider == "webchat" and external_id == "new":
        return webchat.new_publishable_key(tenant_id), {"visitor_secret": token_urlsafe(32), **secrets}
    return external_id, secrets


def webhook_url(request: Request, channel: str, tenant_id: TenantId) -> str | None:
    """Where the provider must deliver this tenant's webhooks (shown on provisioning): the
    webhook base URL (the listener, ADR 0009) and the route's path."""
    names = {"whatsapp": "whatsapp_webhook", "instagram": "instagram_webhook", "email": "mailgun_inbound"}
    if channel not in names:
        return None
    path = request.app.url_path_for(names[channel], tenant_id=str(tenant_id))
    base: str = request.app.state.tridium.settings.webhook_base_url()
    return base + str(path)


def secret_box(request: Request, state: State) -> SecretBox:
    """One SecretBox per process (the Fernet keys parsed once)."""
    box: SecretBox | None = getattr(request.app.state, "inbox_box", None)
    if box is None:  # the gateway's lifespan builds it; this is for apps without it
        box = SecretBox(state.settings.channel_secrets_key)
        request.app.state.inbox_box = box
    return box


@router.get("/webhooks/instagram/{tenant_id}", response_class=PlainTextResponse)
async def instagram_verify(
    tenant_id: TenantId,
    request: Request,
    state: State,
    hub_mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    hub_verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=200)] = None,
    hub_challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=200)] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo ``hub.challenge`` when the verify token is one
    of the tenant's Instagram accounts' ``verify_token``."""
    box = secret_box(request, state)
    async with tenant_tx(state.pool, tenant_id) as conn:
        accounts = await active_accounts(conn, tenant_id, "instagram", box)
    tokens = [a.secrets["verify_token"].get_secret_value() for a in accounts if "verify_token" in a.secrets]
    if not verify_challenge(hub_mode, hub_verify_token, tokens) or not hub_challenge:
        raise Forbidden("webhook verification failed")
    return PlainTextResponse(hub_challenge)


@router.post(
    "/webhooks/instagram/{tenant_id}",
    response_model=ChannelWebhookAck,
    responses={401: {"description": "missing or wrong X-Hub-Signature-256 (nothing stored)"}},
)
async def instagram_webhook(tenant_id: TenantId, request: Request, state: State) -> ChannelWebhookAck:
    """Instagram messaging webhooks (``object: instagram``): messages, echoes (→ sent),
    reactions and reads (→ read). Duplicates are acknowledged and change nothing."""
    body = await request.body()
    header = request.headers.get(SIGNATURE_HEADER)
    accepted = await ingest(
        state.pool,
        secret_box(request, state),
        tenant_id,
        channel="instagram",
        body=body,
        authenticate=lambda raw, accounts: instagram.authenticate(raw, header, accounts),
        parse=instagram.parse,
    )
    state.metrics.count_webhook("instagram", stored=accepted.stored, duplicates=accepted.duplicates)
    return ChannelWebhookAck(
        received=True, stored=accepted.stored, duplicates=accepted.duplicates, ignored=accepted.ignored
    )


@router.post(
    "/webhooks/email/mailgun/{tenant_id}/mime",
    response_model=ChannelWebhookAck,
    responses={
        401: {"description": "missing, stale or wrong Mailgun signature (nothing stored)"},
        413: {"description": "an attachment over the account's limit (code attachment_too_large)"},
    },
)
async def mailgun_inbound(tenant_id: TenantId, request: Request, state: State) -> ChannelWebhookAck:
    """Mailgun route ``forward()`` in raw-MIME form (the URL ends in ``mime``): the signed
    fields and ``body-mime``. Threads by In-Reply-To / References."""
    fields: dict[str, str] = {}
    raw_mime: bytes | None = None
    try:
        async with request.form(
            max_files=4, max_fields=200, max_part_size=state.settings.email_inbound_max_bytes
        ) as form:
            for k, v in form.multi_items():
                if isinstance(v, str):
                    fields[k] = v
                elif k == "body-mime":
                    raw_mime = await v.read()
    except (ValueError, KeyError, AssertionError) as exc:
        # Unsigned garbage is refused before it can be logged (no tenant trust yet).
        raise Unauthorized(f"not a signed Mailgun form ({type(exc).__name__})") from None
    if raw_mime is None and "body-mime" in fields:
        raw_mime = fields["body-mime"].encode()
    sig = email_channel.signature_of(fields)
    accepted = await ingest(
        state.pool,
        secret_box(request, state),
        tenant_id,
        channel="email",
        body=raw_mime or b"",
        authenticate=lambda _raw, accounts: email_channel.authenticate(sig, accounts),
        parse=lambda _raw: email_channel.parse(
            fields, raw_mime, max_attachment_bytes=state.settings.email_max_attachment_bytes
        ),
    )
    state.metrics.count_webhook("email", stored=accepted.stored, duplicates=accepted.duplicates)
    return ChannelWebhookAck(
        received=True, stored=accepted.stored, duplicates=accepted.duplicates, ignored=accepted.ignored
    )


__all__ = ["router", "secret_box"]
