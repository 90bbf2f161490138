"""Channel-account secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``).

The key comes from ``Settings.channel_secrets_key``; several comma-separated keys make a
``MultiFernet``: the first encrypts, every one decrypts, so a key rotates by prepending
the new one and re-saving accounts. Secrets are a JSON object of strings; what we show is
``hint`` (last 4 characters), never the value.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import TridiumError


class SecretsUnreadable(TridiumError):
    code = "channel_secrets_unreadable"


class SecretBox:
    def __init__(self, keys: SecretStr) -> None:
        raw = [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]
        if not raw:
            raise ValueError("channel_secrets_key is empty")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in raw])

    def seal(self, secrets: dict[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, SecretStr]:
        try:
            data = json.loads(self._fernet.decrypt(bytes(token)))
        except (InvalidToken, ValueError) as exc:
            raise SecretsUnreadable("channel account secrets cannot be decrypted with the configured key") from exc
        return {str(k): SecretStr(str(v)) for k, v in data.items()}


def hint(value: str) -> str:
    """What a response may show of a secret: its length class and last 4 characters."""
    return "…" + value[-4:] if len(value) >= 12 else "…"


__all__ = ["SecretBox", "SecretsUnreadable", "hint"]
