"""Web chat credentials: the publishable widget key and the anonymous visitor token.

* **Publishable key** ``wpk1.<tenant uuid>.<random>``: public (it sits in the site's HTML),
  names the tenant and is the ``external_id`` of the tenant's ``chat`` channel account,
  whose config lists the site origins allowed to use it. It authorizes nothing by itself.
* **Visitor token** ``wvt1.<payload>.<mac>``: issued by ``POST /widget/{key}/sessions``;
  the payload (base64url JSON) holds the tenant, the channel account, a random visitor id
  and an expiry; the mac is HMAC-SHA256 under the account's ``visitor_secret`` (encrypted
  at rest with the other channel secrets). It lets one browser post to and stream its own
  conversation, and nothing else; rotating the secret logs every visitor out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from uuid import UUID

from core.errors import Unauthorized
from core.tenancy import TenantId

KEY_VERSION = "wpk1"
TOKEN_VERSION = "wvt1"
DEFAULT_TTL_S = 30 * 24 * 3600


def new_publishable_key(tenant_id: TenantId) -> str:
    return f"{KEY_VERSION}.{tenant_id}.{secrets.token_urlsafe(12)}"


def tenant_of_key(key: str) -> TenantId:
    """The tenant a publishable key names; 401 when it is not shaped like ours."""
    version, _, rest = key.partition(".")
    tenant, _, rand = rest.partition(".")
    if version != KEY_VERSION or not rand or len(key) > 120:
        raise Unauthorized("invalid widget key")
    try:
        return TenantId(UUID(tenant))
    except ValueError:
        raise Unauthorized("invalid widget key") from None


@dataclass(frozen=True, slots=True)
class Visitor:
    tenant_id: TenantId
    account_id: UUID
    visitor_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), f"{TOKEN_VERSION}.{payload}".encode(), hashlib.sha256).digest())


def issue_visitor_token(
    secret: str, tenant_id: TenantId, account_id: UUID, *, ttl_s: int = DEFAULT_TTL_S, visitor_id: str | None = None
) -> tuple[str, Visitor]:
    visitor = Visitor(tenant_id, account_id, visitor_id or f"v_{secrets.token_urlsafe(16)}", int(time.time()) + ttl_s)
    body = {"t": str(tenant_id), "a": str(account_id), "v": visitor.visitor_id, "exp": visitor.expires_at}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{TOKEN_VERSION}.{payload}.{_mac(secret, payload)}", visitor


def read_visitor_token(token: str) -> tuple[str, Visitor]:
    """(payload, claims) of a token WITHOUT checking the mac: the claims say which
    account's secret to check it with (``verify_visitor_token``)."""
    version, _, rest = token.partition(".")
    payload, _, mac = rest.partition(".")
    if version != TOKEN_VERSION or not payload or not mac or len(token) > 600:
        raise Unauthorized("invalid visitor token")
    try:
        d = json.loads(_unb64(payload))
        visitor = Visitor(TenantId(UUID(d["t"])), UUID(d["a"]), str(d["v"]), int(d["exp"]))
    except (ValueError, KeyError, TypeError):
        raise Unauthorized("invalid visitor token") from None
    return payload, visitor


def verify_visitor_token(token: str, secret: str, *, now: float | None = None) -> Visitor:
    payload, visitor = read_visitor_token(token)
    mac = token.rsplit(".", 1)[1]
    if not hmac.compare_digest(_mac(secret, payload).encode(), mac.encode()):
        raise Unauthorized("invalid visitor token")
    if visitor.expires_at < (time.time() if now is None else now):
        raise Unauthorized("visitor token expired: start a new session")
    return visitor


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """Exact match of the request's Origin against the account's ``allowed_origins``."""
    return bool(origin) and origin in allowed


__all__ = [
    "Visitor",
    "issue_visitor_token",
    "new_publishable_key",
    "origin_allowed",
    "read_visitor_token",
    "tenant_of_key",
    "verify_visitor_token",
]
