"""Unit tier: pure logic, no services."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet

from core.errors import TridiumError, Unauthorized, ValidationFailed
from core.settings import INSECURE_DEV_SECRET, Settings
from db.crm import decode_cursor, encode_cursor
from db.migrate import MigrationError, discover
from serve.auth import TokenVerifier, mint_token
from serve.ratelimit import Decision


def test_every_error_has_a_distinct_stable_code() -> None:
    def walk(cls: type[TridiumError]) -> list[type[TridiumError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    classes = walk(TridiumError)
    codes = [c.code for c in classes if c.__module__ == "core.errors"]
    assert len(codes) == len(set(codes))
    assert all(400 <= c.status < 600 for c in classes)


def test_prod_refuses_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIDIUM_ENV", "prod")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@h/d")
    monkeypatch.setenv("REDIS_URL", "redis://h")
    monkeypatch.delenv("TRIDIUM_JWT_SECRET", raising=False)
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings()
    monkeypatch.setenv("TRIDIUM_JWT_SECRET", "x" * 40)
    with pytest.raises(ValueError, match="CHANNEL_SECRETS_KEY"):
        Settings()  # channel-account secrets would be sealed with the public dev key
    monkeypatch.setenv("TRIDIUM_CHANNEL_SECRETS_KEY", Fernet.generate_key().decode())
    assert Settings().env == "prod"
    assert Settings().jwt_secret.get_secret_value() != INSECURE_DEV_SECRET


def test_cursor_round_trip_and_garbage() -> None:
    ts, id_ = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(ts, id_)) == (ts, id_)
    for bad in ("", "not-a-cursor", "W10", "eyJ4Ijo"):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad)


def test_migrations_are_numbered_and_unique() -> None:
    found = discover()
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert found[0].version == "0001"


def test_migrations_reject_unnumbered_files(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("select 1")
    with pytest.raises(MigrationError):
        discover(tmp_path)


def test_rate_limit_headers_follow_the_draft() -> None:
    allowed = Decision(True, 60, 59, 60, 60, "token").headers()
    assert allowed == {"RateLimit-Policy": '"token";q=60;w=60', "RateLimit": '"token";r=59;t=60'}
    denied = Decision(False, 60, 0, 12, 60, "ip").headers()
    assert denied["Retry-After"] == "12"


async def test_token_verification() -> None:
    settings = Settings(jwt_secret="s" * 40)  # type: ignore[arg-type]
    verifier = TokenVerifier(settings)
    token = mint_token(settings, user_id="u1", email="u1@example.com")
    principal = await verifier.verify(token)
    assert (principal.user_id, principal.email) == ("u1", "u1@example.com")
    assert principal.token_fingerprint and token not in principal.token_fingerprint
    expired = jwt.encode({"sub": "u1", "exp": int(time.time()) - 60}, "s" * 40, algorithm="HS256")
    forged = jwt.encode({"sub": "u1", "exp": int(time.time()) + 60}, "t" * 40, algorithm="HS256")
    unsigned = jwt.encode({"sub": "u1", "exp": int(time.time()) + 60}, None, algorithm="none")
    for bad in (expired, forged, unsigned, "garbage"):
        with pytest.raises(Unauthorized):
            await verifier.verify(bad)
