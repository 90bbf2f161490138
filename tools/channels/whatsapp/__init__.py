"""WhatsApp Business Cloud API: connector (``client``), webhook parsing (``webhook``) and
a local sandbox server (``sandbox``)."""

from collections.abc import Sequence
from uuid import UUID

from ..base import AccountView
from ..meta.signature import matching_secrets
from .client import DEFAULT_BASE_URL, MEDIA_LIMITS, WINDOW, WhatsAppConnector, message_body
from .webhook import OBJECT, PROVIDER, parse_webhook


def authenticate(body: bytes, header: str | None, accounts: Sequence[AccountView]) -> list[UUID]:
    """Ids of the accounts whose ``app_secret`` signed ``body`` (X-Hub-Signature-256)."""
    pairs = [(str(a.id), a.secret("app_secret")) for a in accounts if "app_secret" in a.secrets]
    keys = set(matching_secrets(body, header, pairs))
    return [a.id for a in accounts if str(a.id) in keys]


__all__ = [
    "DEFAULT_BASE_URL",
    "MEDIA_LIMITS",
    "OBJECT",
    "PROVIDER",
    "WINDOW",
    "WhatsAppConnector",
    "authenticate",
    "message_body",
    "parse_webhook",
]
