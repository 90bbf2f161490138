"""Bearer JWT verification: HS256 with a shared secret (Supabase-compatible), or
asymmetric keys from a JWKS URL. Anything expired, malformed or wrongly signed → 401."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import jwt

from core.errors import Unauthorized
from core.settings import Settings
from core.tenancy import Principal

_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class TokenVerifier:
    """Verifies tokens. One instance per process; the JWKS client caches keys."""

    def __init__(self, settings: Settings):
        self._secret = settings.jwt_secret.get_secret_value()
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed bearer token") from exc
        alg = header.get("alg")
        if alg == "HS256":
            key: Any = self._secret
        elif alg in _ASYMMETRIC and self._jwks is not None:
            # PyJWKClient fetches over blocking urllib: keep it off the event loop.
            try:
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWTError as exc:
                raise Unauthorized("token signing key not found") from exc
        else:
            raise Unauthorized(f"unsupported token algorithm {alg!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
                leeway=10,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return Principal(
            user_id=str(claims["sub"]),
            email=claims.get("email"),
            token_fingerprint=hashlib.sha256(token.encode()).hexdigest()[:32],
            claims=claims,
        )


def mint_token(
    settings: Settings,
    *,
    user_id: str,
    email: str | None = None,
    ttl_s: int = 7 * 24 * 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """An HS256 token shaped like Supabase's (sub, email, role=authenticated, aud)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_s, "role": "authenticated"}
    if email:
        claims["email"] = email
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    claims.update(extra or {})
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


__all__ = ["TokenVerifier", "mint_token"]
