"""Webhook configuration and delivery, with Asaas's semantics (reference §10).

- POST JSON with ``asaas-access-token`` when a token is set; only HTTP 200 is success
  (other 2xx, 3xx — redirects are not followed — 4xx, 5xx, timeouts all fail); 10 s timeout.
- Penalty schedule after failures (0, 30 s, 1 min, 3.5 min … 3 h) multiplied by
  ``SandboxConfig.time_scale``; the 15th consecutive failure pauses the queue
  (``interrupted``). Events keep queueing while paused and go out in order after
  ``PUT /v3/webhooks/{id} {"interrupted": false}``; events older than 14 days are dropped.
- ``SEQUENTIALLY``: strict FIFO per webhook, a failing head blocks the rest.
  ``NON_SEQUENTIALLY``: several events in flight at once, no order promised.
- At-least-once: with ``duplicate_rate`` a delivered event is delivered again, same ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx

from .config import SANDBOX_NAME, SandboxConfig
from .store import LOG_PREFIX, ApiError, QueuedEvent, Store, WebhookRec, dumps, not_found

logger = logging.getLogger("tridium.sandbox.asaas")

# Wait before attempt n+1 after n consecutive failures (index n); the first send waits 0.
PENALTY_SCHEDULE_S = (0, 30, 60, 210, 300, 900, 1500, 3600, 3600, 3600, 3600, 3600, 7200, 7200, 10800)
MAX_CONSECUTIVE_FAILURES = 15
MAX_WEBHOOKS = 10
SEND_TYPES = ("SEQUENTIALLY", "NON_SEQUENTIALLY")
_EVENT_NAME = re.compile(r"^[A-Z][A-Z_]+$")
USER_AGENT = f"{SANDBOX_NAME}/1.0 (simulates Asaas webhooks)"


# --- configuration API ----------------------------------------------------------------


def _validate(body: dict[str, Any], *, partial: bool) -> None:
    def present(key: str) -> bool:
        return not partial or key in body

    if present("name") and not body.get("name"):
        raise ApiError(400, "invalid_name", "Informe o nome do webhook.")
    url = body.get("url")
    if present("url") and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ApiError(400, "invalid_url", "Informe uma URL válida.")
    if present("email") and not body.get("email"):
        raise ApiError(400, "invalid_email", "Informe o e-mail para notificações.")
    if present("sendType") and body.get("sendType") not in SEND_TYPES:
        raise ApiError(400, "invalid_sendType", "Tipo de envio inválido.")
    events = body.get("events")
    if present("events") and (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and _EVENT_NAME.match(e) for e in events)
    ):
        raise ApiError(400, "invalid_events", "Informe os eventos do webhook.")
    token = body.get("authToken")
    if token is not None and not (isinstance(token, str) and 32 <= len(token) <= 255):
        raise ApiError(400, "invalid_authToken", "O token deve ter entre 32 e 255 caracteres.")


def _new_uuid(store: Store) -> str:
    while (candidate := str(uuid.UUID(int=store.rng.getrandbits(128), version=4))) in store.state.webhooks:
        pass
    return candidate


def create(store: Store, body: dict[str, Any]) -> WebhookRec:
    _validate(body, partial=False)
    if len(store.state.webhooks) >= MAX_WEBHOOKS:
        raise ApiError(400, "invalid_action", "Limite de 10 webhooks atingido.")
    rec = WebhookRec(
        id=_new_uuid(store),
        name=body["name"],
        url=body["url"],
        email=body.get("email"),
        enabled=bool(body.get("enabled", True)),
        interrupted=bool(body.get("interrupted", False)),
        api_version=int(body.get("apiVersion") or 3),
        auth_token=body.get("authToken"),
        send_type=body["sendType"],
        events=list(body["events"]),
        created_at=store.now(),
    )
    store.state.webhooks[rec.id] = rec
    store.state.queues[rec.id] = []
    store.touch()
    logger.info("%s webhook %s created → %s (%s)", LOG_PREFIX, rec.id, rec.url, rec.send_type)
    return rec


def get(store: Store, webhook_id: str) -> WebhookRec:
    rec = store.state.webhooks.get(webhook_id)
    if rec is None:
        raise not_found()
    return rec


def update(store: Store, webhook_id: str, body: dict[str, Any]) -> WebhookRec:
    """Partial update; ``interrupted: false`` resumes a paused queue from its oldest event."""
    rec = get(store, webhook_id)
    _validate(body, partial=True)
    for key, attr in (
        ("name", "name"),
        ("url", "url"),
        ("email", "email"),
        ("sendType", "send_type"),
        ("authToken", "auth_token"),
    ):
        if key in body:
            setattr(rec, attr, body[key])
    if "events" in body:
        rec.events = list(body["events"])
    if "enabled" in body:
        rec.enabled = bool(body["enabled"])
    if "interrupted" in body:
        rec.interrupted = bool(body["interrupted"])
        if not rec.interrupted:
            rec.consecutive_failures = 0
            remove_backoff(store, webhook_id)
            logger.info("%s webhook %s queue resumed", LOG_PREFIX, rec.id)
    store.touch()
    return rec


def remove_backoff(store: Store, webhook_id: str) -> None:
    get(store, webhook_id)
    for event in store.state.queues.get(webhook_id, []):
        event.next_attempt_at = None
    store.touch()


def delete(store: Store, webhook_id: str) -> dict[str, Any]:
    rec = get(store, webhook_id)
    del store.state.webhooks[rec.id]
    store.state.queues.pop(rec.id, None)
    store.touch()
    return {"deleted": True, "id": rec.id}


def render(store: Store, rec: WebhookRec) -> dict[str, Any]:
    """The token is never echoed, only ``hasAuthToken``."""
    queue = store.state.queues.get(rec.id, [])
    return {
        "id": rec.id,
        "name": rec.name,
        "url": rec.url,
        "email": rec.email,
        "enabled": rec.enabled,
        "interrupted": rec.interrupted,
        "apiVersion": rec.api_version,
        "hasAuthToken": bool(rec.auth_token),
        "sendType": rec.send_type,
        "penalizedRequestsCount": sum(1 for e in queue if e.attempts),
        "events": rec.events,
    }


# --- delivery -------------------------------------------------------------------------


class Dispatcher:
    """One delivery loop per webhook, woken when events arrive, queues resume or the
    clock jumps."""

    def __init__(self, store: Store, config: SandboxConfig, http: httpx.AsyncClient) -> None:
        self._store = store
        self._config = config
        self._http = http
        self._rng = random.Random(config.seed)  # apart from ids: duplicates stay reproducible
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        store.listeners.append(self.wake)

    def wake(self, webhook_id: str | None = None) -> None:
        ids = [webhook_id] if webhook_id else list(self._store.state.webhooks)
        for wid in ids:
            self._wakeups.setdefault(wid, asyncio.Event()).set()
            task = self._tasks.get(wid)
            if task is None or task.done():
                task = asyncio.create_task(self._run(wid), name=f"asaas-webhook-{wid}")
                task.add_done_callback(self._report_crash)
                self._tasks[wid] = task

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The next wake() starts a fresh loop; say loudly that this one died.
            logger.error("%s delivery loop %s crashed", LOG_PREFIX, task.get_name(), exc_info=exc)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _sleep(self, webhook_id: str, seconds: float | None) -> None:
        wakeup = self._wakeups.setdefault(webhook_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), seconds)
        wakeup.clear()

    def _expire(self, queue: list[QueuedEvent]) -> None:
        horizon = self._store.now() - timedelta(days=self._config.retention_days)
        stale = [e for e in queue if e.created_at < horizon]
        for event in stale:
            queue.remove(event)
            logger.info("%s event %s dropped after retention", LOG_PREFIX, event.event_id)

    async def _run(self, webhook_id: str) -> None:
        while True:
            hook = self._store.state.webhooks.get(webhook_id)
            queue = self._store.state.queues.get(webhook_id)
            if hook is None or queue is None:
                return
            self._expire(queue)
            if not hook.enabled or hook.interrupted or not queue:
                await self._sleep(webhook_id, None)
                continue
            now = self._store.now()
            candidates = queue[:1] if hook.send_type == "SEQUENTIALLY" else list(queue)
            due = [e for e in candidates if e.next_attempt_at is None or e.next_attempt_at <= now]
            if not due:
                wait = min(e.next_attempt_at for e in candidates if e.next_attempt_at) - now
                await self._sleep(webhook_id, wait.total_seconds())
                continue
            batch = due[: self._config.nonsequential_parallelism]
            if hook.send_type == "NON_SEQUENTIALLY":
                self._rng.shuffle(batch)
            results = await asyncio.gather(*(self._deliver(hook, e) for e in batch))
            for event, ok in zip(batch, results, strict=True):
                self._settle(hook, queue, event, ok)
            self._store.touch()
            await asyncio.sleep(0)  # let requests in between deliveries

    def _settle(self, hook: WebhookRec, queue: list[QueuedEvent], event: QueuedEvent, ok: bool) -> None:
        if ok:
            hook.consecutive_failures = 0
            if event in queue:
                queue.remove(event)
            if not event.duplicate and self._rng.random() < self._config.duplicate_rate:
                # At-least-once: the same event (same id) once more, right behind itself so a
                # SEQUENTIALLY queue keeps its order.
                dup = QueuedEvent(event.event_id, event.body, event.created_at, duplicate=True)
                queue.insert(0 if hook.send_type == "SEQUENTIALLY" else len(queue), dup)
                logger.info("%s event %s will be delivered twice (duplicate)", LOG_PREFIX, event.event_id)
            return
        event.attempts += 1
        hook.consecutive_failures += 1
        if hook.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            hook.interrupted = True
            event.next_attempt_at = None
            logger.warning(
                "%s webhook %s interrupted after %d consecutive failures; %d events queued",
                LOG_PREFIX,
                hook.id,
                hook.consecutive_failures,
                len(queue),
            )
            return
        delay = PENALTY_SCHEDULE_S[hook.consecutive_failures] * self._config.time_scale
        event.next_attempt_at = self._store.now() + timedelta(seconds=delay)

    async def _deliver(self, hook: WebhookRec, event: QueuedEvent) -> bool:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Sandbox": SANDBOX_NAME,
        }
        if hook.auth_token:
            headers["asaas-access-token"] = hook.auth_token
        try:
            response = await self._http.post(
                hook.url,
                content=dumps(event.body),
                headers=headers,
                timeout=self._config.webhook_timeout_s,
                follow_redirects=False,
            )
            outcome, ok = str(response.status_code), response.status_code == 200
        except httpx.HTTPError as exc:
            outcome, ok = type(exc).__name__, False
        logger.info(
            "%s deliver %s %s to webhook %s → %s",
            LOG_PREFIX,
            event.event_id,
            event.body.get("event"),
            hook.id,
            outcome,
        )
        return ok


__all__ = [
    "MAX_CONSECUTIVE_FAILURES",
    "PENALTY_SCHEDULE_S",
    "Dispatcher",
    "create",
    "delete",
    "get",
    "remove_backoff",
    "render",
    "update",
]
