"""Errors of the Asaas connector, grafted onto the one error tree of ``core.errors``.

Each class also subclasses the ``core.errors`` class whose HTTP meaning fits, so the
gateway's single translator turns them into responses without knowing about Asaas, and
callers that only care about "was it the client's fault?" can catch ``ClientError``.

::

    TridiumError
    └── AsaasError                  502 asaas_error          Asaas failed or answered nonsense
        ├── AsaasAuthFailed         502 asaas_auth_failed    401 from Asaas: *our* key is wrong,
        │                                                    never the end user's fault
        ├── AsaasUnavailable        503 asaas_unavailable    transport error / timeout / 5xx
        │   └── AsaasOutcomeUnknown 504 asaas_outcome_unknown a create may or may not exist
        ├── AsaasRequestRejected    400 asaas_request_rejected  (also ClientError) 400 + errors[]
        │   └── AsaasCardDeclined   402 card_declined        400 invalid_creditCard
        ├── AsaasNotFound           404 asaas_not_found      (also NotFound)
        └── AsaasRateLimited        429 asaas_rate_limited   (also RateLimited) quota / concurrency

``details`` carries Asaas's own ``errors[]`` (code + Portuguese description) where it sent
one: that text is meant for people (e.g. "Transação não autorizada…") and is safe to show.
Nothing here ever contains the access token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ClientError, NotFound, RateLimited, TridiumError

from .models import AsaasErrorItem


class AsaasError(TridiumError):
    """Asaas could not do what we asked, for a reason that is not the end user's input."""

    status = 502
    code = "asaas_error"

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        errors: Sequence[AsaasErrorItem] = (),
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if details is None and errors:
            details = {"errors": [e.model_dump() for e in errors]}
        super().__init__(message, details=details, headers=headers)
        self.http_status = http_status
        self.errors: tuple[AsaasErrorItem, ...] = tuple(errors)


class AsaasAuthFailed(AsaasError):
    """Asaas refused our access token (401): a deployment problem, not the caller's."""

    code = "asaas_auth_failed"


class AsaasUnavailable(AsaasError):
    """Asaas was unreachable, timed out or answered 5xx.

    ``request_sent`` tells whether the request may have reached Asaas: when False (connect
    errors) repeating even a create is safe; when True the outcome is unknown.
    """

    status = 503
    code = "asaas_unavailable"

    def __init__(self, message: str, *, request_sent: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class AsaasOutcomeUnknown(AsaasUnavailable):
    """A create was sent, its answer was lost, and a look-up could not settle the outcome.

    The caller must not create again blindly: reconcile by ``external_reference`` later.
    """

    status = 504
    code = "asaas_outcome_unknown"

    def __init__(self, message: str, *, external_reference: str, **kwargs: Any) -> None:
        kwargs.setdefault("details", {"externalReference": external_reference})
        super().__init__(message, request_sent=True, **kwargs)
        self.external_reference = external_reference


class AsaasRequestRejected(AsaasError, ClientError):
    """Asaas answered 400: the data we passed on (CPF, value, due date…) was not accepted."""

    status = 400
    code = "asaas_request_rejected"


class AsaasCardDeclined(AsaasRequestRejected):
    """The card was refused (``invalid_creditCard``); nothing was persisted at Asaas."""

    status = 402
    code = "card_declined"


class AsaasNotFound(AsaasError, NotFound):
    """The Asaas id does not exist (404, no body)."""

    status = 404
    code = "asaas_not_found"


class AsaasRateLimited(AsaasError, RateLimited):
    """Asaas said 429 and the wait it asked for is longer than we are willing to block."""

    status = 429
    code = "asaas_rate_limited"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, round(retry_after)))})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


__all__ = [
    "AsaasAuthFailed",
    "AsaasCardDeclined",
    "AsaasError",
    "AsaasNotFound",
    "AsaasOutcomeUnknown",
    "AsaasRateLimited",
    "AsaasRequestRejected",
    "AsaasUnavailable",
]
