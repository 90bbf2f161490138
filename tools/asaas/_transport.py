"""One place where the connector talks HTTP to Asaas: headers, retries, rate limits, errors.

Retry rules, and why:

- ``Retry.SAFE`` (GET, DELETE, PUT, and POSTs that are idempotent by nature such as
  tokenising a card): any transport error, 5xx or 429 is retried with jittered backoff.
- ``Retry.UNSENT_ONLY`` (creates, charges, refunds): retried only when the request cannot
  have been processed — a connect error (nothing left this process) or a 429 (Asaas refuses
  before doing anything). A timeout or reset *after* sending is surfaced as
  ``AsaasUnavailable(request_sent=True)``: Asaas has no idempotency header, so repeating
  could charge twice. ``AsaasClient.create_payment_once`` resolves those by look-up.
- 429: wait what ``Retry-After`` or ``RateLimit-Reset`` asks (never retry at once), and when
  a response says ``RateLimit-Remaining: 0`` hold the next call until the reset instead of
  provoking a 429. A wait longer than ``max_rate_limit_wait_s`` raises ``AsaasRateLimited``.
- GETs share a semaphore: Asaas answers 429 above 50 concurrent GETs per account.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import logging
import time
from typing import Any

import httpx
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .config import AsaasConfig
from .errors import (
    AsaasAuthFailed,
    AsaasCardDeclined,
    AsaasError,
    AsaasNotFound,
    AsaasRateLimited,
    AsaasRequestRejected,
    AsaasUnavailable,
)
from .models import AsaasErrorItem

logger = logging.getLogger("tridium.tools.asaas")

DECLINE_CODE = "invalid_creditCard"
# Errors raised before a single byte of the request can have reached Asaas.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class Retry(enum.Enum):
    SAFE = "safe"
    UNSENT_ONLY = "unsent_only"


def _seconds(value: str | None) -> float | None:
    """Parse ``Retry-After`` / ``RateLimit-Reset``: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def retry_after(response: httpx.Response) -> float:
    """Seconds to wait after a 429; at least one second (never retry immediately)."""
    waits = [
        s
        for s in (
            _seconds(response.headers.get("Retry-After")),
            _seconds(response.headers.get("RateLimit-Reset")),
        )
        if s is not None
    ]
    return max([1.0, *waits])


def _error_items(response: httpx.Response) -> list[AsaasErrorItem]:
    try:
        body = response.json()
        return [AsaasErrorItem.model_validate(e) for e in body.get("errors") or []]
    except (ValueError, AttributeError, ValidationError):
        return []


def error_from_response(method: str, path: str, response: httpx.Response) -> AsaasError:
    """Translate a non-2xx Asaas answer into the error tree (see ``errors.py``)."""
    status = response.status_code
    items = _error_items(response)
    text = "; ".join(e.description or e.code for e in items)
    where = f"Asaas {method} {path} answered {status}"
    if status == 400:
        if any(e.code == DECLINE_CODE for e in items):
            return AsaasCardDeclined(text or "card declined", http_status=status, errors=items)
        return AsaasRequestRejected(text or where, http_status=status, errors=items)
    if status == 401:
        # Our key is wrong or for the other environment: never blame the end user.
        return AsaasAuthFailed(f"{where}: access token refused", http_status=status, errors=items)
    if status == 404:
        return AsaasNotFound(f"{where}: not found", http_status=status, errors=items)
    if status == 429:
        wait = retry_after(response)
        return AsaasRateLimited(
            f"{where}: rate limited, retry in {wait:.0f}s",
            retry_after=wait,
            http_status=status,
            errors=items,
        )
    if status >= 500:
        return AsaasUnavailable(where, request_sent=True, http_status=status, errors=items)
    return AsaasError(f"{where}: {text}" if text else where, http_status=status, errors=items)


class Transport:
    """Sends requests for one Asaas account over a shared ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, config: AsaasConfig) -> None:
        self._http = http
        self._config = config
        self._gets = asyncio.Semaphore(config.max_concurrent_gets)
        self._not_before = 0.0  # monotonic time before which Asaas told us not to call
        self._backoff = wait_exponential_jitter(
            multiplier=config.backoff_initial_s, jitter=config.backoff_initial_s, max=config.backoff_max_s
        )

    def _headers(self) -> dict[str, str]:
        return {
            "access_token": self._config.access_token.get_secret_value(),
            "User-Agent": self._config.user_agent,
            "Accept": "application/json",
        }

    async def _respect_rate_limit(self) -> None:
        wait = self._not_before - time.monotonic()
        if wait <= 0:
            return
        if wait > self._config.max_rate_limit_wait_s:
            raise AsaasRateLimited(f"Asaas rate limit resets in {wait:.0f}s", retry_after=wait, http_status=429)
        logger.info("asaas rate limit: holding the call %.2fs until the window resets", wait)
        await asyncio.sleep(wait)

    def _note_rate_limit(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            hold = retry_after(response)
        elif response.headers.get("RateLimit-Remaining") == "0":
            hold = _seconds(response.headers.get("RateLimit-Reset")) or 0.0
        else:
            return
        self._not_before = max(self._not_before, time.monotonic() + hold)

    async def _send_once(
        self,
        method: str,
        path: str,
        json: Any,
        params: dict[str, Any] | None,
        http_timeout_s: float | None,
        files: Any = None,
    ) -> httpx.Response:
        await self._respect_rate_limit()
        extra: dict[str, Any] = {} if http_timeout_s is None else {"timeout": http_timeout_s}
        # multipart/form-data (dunning creates) instead of a JSON body
        body: dict[str, Any] = {"json": json} if files is None else {"files": files}
        try:
            if method == "GET":
                async with self._gets:  # never a body on GET: Asaas answers 403
                    response = await self._http.request(
                        method,
                        self._config.base_url + path,
                        params=params,
                        headers=self._headers(),
                        **extra,
                    )
            else:
                response = await self._http.request(
                    method,
                    self._config.base_url + path,
                    params=params,
                    headers=self._headers(),
                    **body,
                    **extra,
                )
        except _UNSENT as exc:
            raise AsaasUnavailable(
                f"Asaas {method} {path}: could not connect ({type(exc).__name__})",
                request_sent=False,
            ) from exc
        except httpx.TransportError as exc:
            raise AsaasUnavailable(
                f"Asaas {method} {path}: no answer ({type(exc).__name__})", request_sent=True
            ) from exc
        self._note_rate_limit(response)
        if response.is_success:
            return response
        raise error_from_response(method, path, response)

    def _retryable(self, policy: Retry, exc: BaseException) -> bool:
        if isinstance(exc, AsaasRateLimited):
            return exc.retry_after <= self._config.max_rate_limit_wait_s
        if isinstance(exc, AsaasUnavailable):
            return policy is Retry.SAFE or not exc.request_sent
        return False

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, AsaasRateLimited):
            return 0.0  # _respect_rate_limit sleeps until the announced reset
        return self._backoff(state)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "asaas call failed (%s), attempt %d; retrying in %.2fs",
            exc,
            state.attempt_number,
            sleep,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        retry: Retry,
        json: Any = None,
        params: dict[str, Any] | None = None,
        http_timeout_s: float | None = None,
        files: Any = None,
    ) -> httpx.Response:
        """Send with the retry ``policy``; return the 2xx response or raise ``AsaasError``.
        ``files`` (httpx form parts) sends ``multipart/form-data`` instead of ``json``."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: self._retryable(retry, e)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(method, path, json, params, http_timeout_s, files)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
