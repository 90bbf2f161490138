"""The one error tree of Tridium.

Every failure a client or a provider can cause is one of these classes. The gateway
translates them to HTTP in one place (``serve.errors``) with a stable ``code``; nothing
else builds error responses.

::

    TridiumError                      500 internal          (never raised for client input)
    ├── ClientError                   400 bad_request
    │   ├── ValidationFailed          422 validation_failed
    │   ├── Unauthorized              401 unauthorized
    │   ├── BudgetExceeded            402 ai_budget_exceeded (the tenant's monthly AI budget is spent)
    │   ├── Forbidden                 403 forbidden
    │   ├── NotFound                  404 not_found
    │   ├── Conflict                  409 conflict
    │   ├── PayloadTooLarge           413 payload_too_large
    │   ├── UnsupportedMediaType      415 unsupported_media_type
    │   ├── RateLimited               429 rate_limited
    │   ├── IdempotencyKeyMissing     400 idempotency_key_missing
    │   ├── IdempotencyKeyMismatch    422 idempotency_key_mismatch
    │   └── IdempotencyKeyInFlight    409 idempotency_key_in_flight
    └── DependencyUnavailable         503 dependency_unavailable (Postgres, Redis, Ray down)

Errors carry ``details`` (JSON-serialisable) for the client. Secrets never go in a message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TridiumError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class ClientError(TridiumError):
    status = 400
    code = "bad_request"


class ValidationFailed(ClientError):
    status = 422
    code = "validation_failed"


class Unauthorized(ClientError):
    status = 401
    code = "unauthorized"


class BudgetExceeded(ClientError):
    status = 402
    code = "ai_budget_exceeded"


class Forbidden(ClientError):
    status = 403
    code = "forbidden"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ClientError):
    status = 429
    code = "rate_limited"


class IdempotencyKeyMissing(ClientError):
    status = 400
    code = "idempotency_key_missing"


class IdempotencyKeyMismatch(ClientError):
    status = 422
    code = "idempotency_key_mismatch"


class IdempotencyKeyInFlight(ClientError):
    status = 409
    code = "idempotency_key_in_flight"


class DependencyUnavailable(TridiumError):
    status = 503
    code = "dependency_unavailable"


__all__ = [
    "BudgetExceeded",
    "ClientError",
    "Conflict",
    "DependencyUnavailable",
    "Forbidden",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyMismatch",
    "IdempotencyKeyMissing",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "TridiumError",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
]
