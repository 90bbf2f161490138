"""The Meta Marketing API connector (``tools.ads.base.AdsConnector``) over an injected
``httpx.AsyncClient``; conversions go through the Conversions API (``capi``).

Graph calls (``{base}/{api_version}/…``, base ``https://graph.facebook.com`` unless the
account has a ``base_url``; the version from ``config.api_version`` or the constructor):

* ``GET act_{id}/campaigns|adsets|ads`` and ``GET {id}?fields=…`` — reads, paged by
  following ``paging.next`` (only to the same host: the token never goes elsewhere);
* ``POST act_{id}/campaigns`` ``{name, objective: OUTCOME_*, status: PAUSED,
  special_ad_categories: [], daily_budget, buying_type, bid_strategy}`` → ``{"id"}``;
* ``POST act_{id}/adsets`` ``{name, campaign_id, status: PAUSED, billing_event,
  optimization_goal, targeting: {geo_locations: {countries}, age_min, age_max},
  daily_budget?, promoted_object?}``; ``POST act_{id}/adcreatives`` ``{name,
  object_story_spec: {page_id, link_data: {link, message, name, picture?,
  call_to_action}}, url_tags}``; ``POST act_{id}/ads`` ``{name, adset_id, creative:
  {creative_id}, status: PAUSED}``;
* ``POST {id}`` ``{status}`` / ``{daily_budget}`` → ``{"success": true}``;
* any write with ``execution_options=["validate_only"]`` → ``{"success": true}`` and
  nothing written: returned as ``DryRun(supported=True, ok=True)``; a validation refusal
  (code 100) comes back as ``DryRun(ok=False, messages=…)`` rather than an exception;
* ``GET act_{id}/insights?level=&time_range={"since","until"}&time_increment=1&fields=…``
  → daily rows (``date_start``), numbers as strings, ``spend`` a decimal string in currency
  units → ``InsightRow.spend_minor``; conversions are the ``actions`` of the account's
  ``config.conversion_action_types`` (default ``lead`` and ``purchase``, Meta's aggregated
  types — summing their ``offsite_conversion.*``/``onsite_conversion.*`` parts too would
  double count) and their ``action_values``.

Account settings read here (``AdAccountView``): ``external_id`` (the ad account id, with or
without ``act_``), ``currency``, ``base_url``; ``secrets.access_token`` (and optionally
``secrets.capi_access_token`` for the Conversions API); ``config`` keys ``page_id`` (needed
for creatives), ``pixel_id`` (needed for conversions), ``waba_id`` (click-to-WhatsApp
conversions), and optional ``api_version``, ``special_ad_categories`` (default ``[]``),
``optimization_goal``, ``destination_type``, ``conversion_action_types``,
``capi_action_source`` (default ``system_generated``), ``capi_test_event_code``,
``default_country_code`` (default ``55``).

Parameters go form-encoded with arrays/objects as JSON strings, as Meta's SDKs send them
(``facebook_business/api.py``); the token goes as ``Authorization: Bearer`` (Graph accepts it
as well as ``access_token``; a header keeps it out of URLs and logs).

Retries (``RetryPolicy``, exponential backoff with jitter, ``Retry-After``/BUC regain time
honoured up to ``max_wait_s``):

* reads, absolute updates (status, budget), dry runs and CAPI events (deduplicated by
  ``event_id`` on Meta's side) are retried on rate limits, 5xx/transient errors and
  transport failures;
* creates are retried only when Meta certainly did not act: the connection never opened,
  or Meta throttled the call (a rate-limit error is answered before the write). A 5xx, a
  timeout or a dropped connection after the request was sent leaves the outcome unknown —
  Meta has no idempotency key for creates — so the connector raises ``AdsPlatformError``
  with ``retriable=False`` and ``provider_code="outcome_unknown"``; the caller reconciles by
  listing the account's objects (``list_campaigns``) before trying again.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..base import AdAccountView
from ..errors import AdAccountNotConfigured, AdsPlatformError, AdsRateLimited, AdsRequestRejected
from ..models import (
    AdObject,
    AdSetSpec,
    AdStatus,
    CampaignSpec,
    ConversionEvent,
    ConversionResult,
    CreativeSpec,
    DryRun,
    InsightRow,
    Level,
    Objective,
    Platform,
)
from . import capi
from .errors import PLATFORM, to_ads_error
from .money import budget_from_meta, budget_to_meta, decimal_to_minor

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

OBJECTIVES: dict[Objective, str] = {
    "leads": "OUTCOME_LEADS",
    "sales": "OUTCOME_SALES",
    "traffic": "OUTCOME_TRAFFIC",
    "messages": "OUTCOME_ENGAGEMENT",
    "awareness": "OUTCOME_AWARENESS",
}
OPTIMIZATION_GOALS: dict[str, str] = {
    "OUTCOME_LEADS": "LEAD_GENERATION",
    "OUTCOME_SALES": "OFFSITE_CONVERSIONS",
    "OUTCOME_TRAFFIC": "LINK_CLICKS",
    "OUTCOME_ENGAGEMENT": "CONVERSATIONS",
    "OUTCOME_AWARENESS": "REACH",
}
STATUS_FROM_META: dict[str, AdStatus] = {
    "ACTIVE": "active",
    "PAUSED": "paused",
    "ARCHIVED": "archived",
    "DELETED": "removed",
}
STATUS_TO_META: dict[AdStatus, str] = {v: k for k, v in STATUS_FROM_META.items()}
FIELDS: dict[Level, str] = {
    "campaign": "id,name,status,effective_status,objective,daily_budget,special_ad_categories",
    "adset": "id,name,status,effective_status,campaign_id,daily_budget,optimization_goal,billing_event",
    "ad": "id,name,status,effective_status,campaign_id,adset_id,creative",
    "creative": "id,name,status,object_story_spec,url_tags",
}
INSIGHT_FIELDS = (
    "account_currency,campaign_id,campaign_name,adset_id,ad_id,ad_name,impressions,clicks,spend,"
    "actions,action_values,cost_per_action_type,ctr,cpc,cpm"
)
DEFAULT_CONVERSION_TYPES = ("lead", "purchase")
# url_tags with Meta's dynamic URL parameters, so a click carries campaign/ad ids back to us.
URL_TAGS = "utm_source=facebook&utm_medium=paid&utm_campaign={{campaign.id}}&utm_content={{ad.id}}"

Safety = Literal["idempotent", "create"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    max_wait_s: float = 30.0  # a longer Retry-After/regain time is surfaced, not slept through

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(self.cap_s, retry_after_s)
        raw = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return float(raw * (0.5 + random.random() / 2))


class MetaAdsConnector:
    """Meta Marketing API + Conversions API for one process (stateless; accounts per call)."""

    platform: Platform = "meta"

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_version: str = DEFAULT_API_VERSION,
        *,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._version = api_version
        self._retry = retry or RetryPolicy()
        self._page_size = page_size
        self._max_pages = max_pages
        self._sleep = sleep

    # -- transport ----------------------------------------------------------------------

    def _base(self, account: AdAccountView) -> str:
        base = (account.base_url or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/{account.config.get('api_version') or self._version}"

    @staticmethod
    def _act(account: AdAccountView) -> str:
        return "act_" + account.external_id.removeprefix("act_")

    @staticmethod
    def _form(params: dict[str, Any]) -> dict[str, str]:
        return {
            k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in params.items()
            if v is not None
        }

    async def _call(
        self,
        account: AdAccountView,
        method: Literal["GET", "POST"],
        url: str,
        *,
        params: dict[str, Any] | None = None,
        safety: Safety = "idempotent",
        token_secret: str = "access_token",
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        token = account.secret(token_secret) if token_secret in account.secrets else account.secret("access_token")
        headers = {"Authorization": f"Bearer {token}"}
        attempt = 0
        while True:
            attempt += 1
            try:
                if method == "GET":
                    # params=None keeps a paging.next URL's own query (httpx replaces it otherwise)
                    query = self._form(params) if params is not None else None
                    response = await self._http.get(url, params=query, headers=headers)
                elif json_body is not None:
                    response = await self._http.post(url, json=json_body, headers=headers)
                else:
                    response = await self._http.post(url, data=self._form(params or {}), headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Never reached Meta: safe to repeat whatever it was.
                error: AdsPlatformError = AdsPlatformError(
                    f"Meta unreachable: {type(exc).__name__}", platform=PLATFORM, retriable=True
                )
            except httpx.TransportError as exc:
                error = AdsPlatformError(
                    f"Meta did not answer ({type(exc).__name__})", platform=PLATFORM, retriable=True
                )
                if safety == "create":
                    raise self._unknown(error) from exc
            else:
                body = self._json(response)
                if response.status_code == 200 and body is not None and "error" not in body:
                    return body
                if response.status_code == 200 and body is None:
                    raise AdsPlatformError(
                        "Meta answered 200 without a JSON object",
                        platform=PLATFORM,
                        retriable=False,
                        provider_code="bad_response",
                        http_status=200,
                    )
                mapped = to_ads_error(response.status_code, body, response.headers)
                if not isinstance(mapped, AdsPlatformError) or not mapped.retriable:
                    raise mapped
                if safety == "create" and not isinstance(mapped, AdsRateLimited):
                    raise self._unknown(mapped)
                error = mapped
            wait_hint = error.retry_after_s
            if attempt >= self._retry.max_attempts or (wait_hint is not None and wait_hint > self._retry.max_wait_s):
                raise error
            await self._sleep(self._retry.backoff(attempt, wait_hint))

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any] | None:
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @staticmethod
    def _unknown(error: AdsPlatformError) -> AdsPlatformError:
        return AdsPlatformError(
            f"{error.message}; the create may or may not have happened on Meta, so it is not retried — "
            "list the account's objects before trying again",
            platform=PLATFORM,
            retriable=False,
            provider_code="outcome_unknown",
            http_status=error.http_status,
            details={"cause": error.provider_code, "cause_details": error.details},
        )

    async def _paged(self, account: AdAccountView, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        origin = urlsplit(self._base(account))
        next_url: str | None = url
        query: dict[str, Any] | None = {**params, "limit": self._page_size}
        for _ in range(self._max_pages):
            if next_url is None:
                return out
            body = await self._call(account, "GET", next_url, params=query)
            data = body.get("data")
            if not isinstance(data, list):
                raise AdsPlatformError("Meta answered a list call without data", platform=PLATFORM, retriable=False)
            out.extend(d for d in data if isinstance(d, dict))
            paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
            candidate = paging.get("next") if isinstance(paging, dict) else None
            if not candidate:
                return out
            target = urlsplit(str(candidate))
            if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
                raise AdsPlatformError(
                    "Meta's paging.next points to another host; not followed",
                    platform=PLATFORM,
                    retriable=False,
                    details={"next_host": target.netloc},
                )
            next_url, query = str(candidate), None  # next carries every parameter and the cursor
        raise AdsPlatformError(f"more than {self._max_pages} pages", platform=PLATFORM, retriable=False)

    async def _write(
        self,
        account: AdAccountView,
        url: str,
        params: dict[str, Any],
        *,
        validate_only: bool,
        safety: Safety,
    ) -> dict[str, Any] | DryRun:
        if not validate_only:
            return await self._call(account, "POST", url, params=params, safety=safety)
        try:
            body = await self._call(
                account, "POST", url, params={**params, "execution_options": ["validate_only"]}, safety="idempotent"
            )
        except AdsRequestRejected as exc:
            return DryRun(supported=True, ok=False, messages=(exc.message,), raw={"error": exc.details})
        return DryRun(supported=True, ok=body.get("success") is True, raw=body)

    # -- objects ------------------------------------------------------------------------

    def _object(self, account: AdAccountView, level: Level, data: dict[str, Any]) -> AdObject:
        parent = {"adset": data.get("campaign_id"), "ad": data.get("adset_id")}.get(level)
        status = STATUS_FROM_META.get(str(data.get("status") or ""), "active" if level == "creative" else "paused")
        return AdObject(
            platform="meta",
            level=level,
            external_id=str(data["id"]),
            name=str(data.get("name") or ""),
            status=status,
            parent_external_id=str(parent) if parent else None,
            daily_budget_minor=budget_from_meta(data.get("daily_budget"), account.currency),
            raw=data,
        )

    async def list_campaigns(self, account: AdAccountView) -> list[AdObject]:
        rows = await self._paged(
            account, f"{self._base(account)}/{self._act(account)}/campaigns", {"fields": FIELDS["campaign"]}
        )
        return [self._object(account, "campaign", r) for r in rows]

    async def get_object(self, account: AdAccountView, level: Level, external_id: str) -> AdObject:
        body = await self._call(
            account, "GET", f"{self._base(account)}/{external_id}", params={"fields": FIELDS[level]}
        )
        return self._object(account, level, body)

    async def create_campaign(
        self, account: AdAccountView, spec: CampaignSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        params: dict[str, Any] = {
            "name": spec.name,
            "objective": OBJECTIVES[spec.objective],
            "status": "PAUSED",  # always: going live is a separate, approved status change
            "special_ad_categories": list(account.config.get("special_ad_categories") or []),
            "buying_type": "AUCTION",
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
            "daily_budget": str(budget_to_meta(spec.daily_budget_minor, account.currency)),
        }
        body = await self._write(
            account,
            f"{self._base(account)}/{self._act(account)}/campaigns",
            params,
            validate_only=validate_only,
            safety="create",
        )
        if isinstance(body, DryRun):
            return body
        return self._object(account, "campaign", {**params, "id": body["id"], "status": "PAUSED"})

    async def create_adset(
        self, account: AdAccountView, spec: AdSetSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        try:
            campaign = await self._call(
                account,
                "GET",
                f"{self._base(account)}/{spec.campaign_external_id}",
                params={"fields": "id,objective,daily_budget"},
            )
        except AdsRequestRejected as exc:
            if validate_only:  # an unknown campaign is the dry run's answer
                return DryRun(supported=True, ok=False, messages=(exc.message,), raw={"error": exc.details})
            raise
        objective = str(campaign.get("objective") or "OUTCOME_TRAFFIC")
        params: dict[str, Any] = {
            "name": spec.name,
            "campaign_id": spec.campaign_external_id,
            "status": "PAUSED",
            "billing_event": "IMPRESSIONS",
            "optimization_goal": account.config.get("optimization_goal") or OPTIMIZATION_GOALS.get(objective, "REACH"),
            "targeting": {
                "geo_locations": {"countries": list(spec.countries)},
                "age_min": spec.age_min,
                "age_max": spec.age_max,
            },
        }
        if spec.daily_budget_minor is not None:
            params["daily_budget"] = str(budget_to_meta(spec.daily_budget_minor, account.currency))
        if campaign.get("daily_budget") in (None, ""):
            params["bid_strategy"] = "LOWEST_COST_WITHOUT_CAP"
        promoted = self._promoted_object(account, objective)
        if promoted:
            params["promoted_object"] = promoted
        if objective == "OUTCOME_ENGAGEMENT" and account.config.get("destination_type"):
            params["destination_type"] = account.config["destination_type"]
        body = await self._write(
            account,
            f"{self._base(account)}/{self._act(account)}/adsets",
            params,
            validate_only=validate_only,
            safety="create",
        )
        if isinstance(body, DryRun):
            return body
        return self._object(account, "adset", {**params, "id": body["id"]})

    @staticmethod
    def _promoted_object(account: AdAccountView, objective: str) -> dict[str, Any] | None:
        page_id, pixel_id = account.config.get("page_id"), account.config.get("pixel_id")
        if objective == "OUTCOME_SALES" and pixel_id:
            return {"pixel_id": str(pixel_id), "custom_event_type": "PURCHASE"}
        if objective in ("OUTCOME_LEADS", "OUTCOME_ENGAGEMENT") and page_id:
            return {"page_id": str(page_id)}
        return None

    async def create_ad(
        self, account: AdAccountView, spec: CreativeSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        page_id = account.config.get("page_id")
        if not page_id:
            raise AdAccountNotConfigured(
                "the Meta ad account has no page_id (ads are published as a Facebook Page)",
                details={"account_id": str(account.id), "config": "page_id"},
            )
        link_data: dict[str, Any] = {
            "link": spec.link_url,
            "message": spec.body,
            "name": spec.headline,
            "call_to_action": {"type": spec.call_to_action, "value": {"link": spec.link_url}},
        }
        if spec.image_url:
            link_data["picture"] = spec.image_url
        url_tags = URL_TAGS + (f"&tcv={spec.creative_version_id}" if spec.creative_version_id else "")
        story = {"page_id": str(page_id), "link_data": link_data}
        creative_params: dict[str, Any] = {"name": spec.name, "object_story_spec": story, "url_tags": url_tags}
        act = f"{self._base(account)}/{self._act(account)}"
        if validate_only:
            creative_check = await self._write(
                account, f"{act}/adcreatives", creative_params, validate_only=True, safety="create"
            )
            ad_check = await self._write(
                account,
                f"{act}/ads",
                {
                    "name": spec.name,
                    "adset_id": spec.adset_external_id,
                    "status": "PAUSED",
                    "creative": {"object_story_spec": story},
                },
                validate_only=True,
                safety="create",
            )
            assert isinstance(creative_check, DryRun) and isinstance(ad_check, DryRun)
            return DryRun(
                supported=True,
                ok=creative_check.ok and ad_check.ok,
                messages=creative_check.messages + ad_check.messages,
                raw={"creative": creative_check.raw, "ad": ad_check.raw},
            )
        creative = await self._call(account, "POST", f"{act}/adcreatives", params=creative_params, safety="create")
        ad_params: dict[str, Any] = {
            "name": spec.name,
            "adset_id": spec.adset_external_id,
            "creative": {"creative_id": str(creative["id"])},
            "status": "PAUSED",
        }
        try:
            ad = await self._call(account, "POST", f"{act}/ads", params=ad_params, safety="create")
        except (AdsRequestRejected, AdsPlatformError) as exc:
            details = exc.details if isinstance(exc.details, dict) else {"cause": exc.details}
            exc.details = {**details, "orphan_creative_id": str(creative["id"])}
            raise
        return self._object(
            account,
            "ad",
            {**ad_params, "id": ad["id"], "creative_id": str(creative["id"]), "url_tags": url_tags},
        )

    async def set_status(
        self, account: AdAccountView, level: Level, external_id: str, status: AdStatus, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        if level == "creative":
            raise AdsRequestRejected("a Meta ad creative has no status to change; change the ad", platform=PLATFORM)
        body = await self._write(
            account,
            f"{self._base(account)}/{external_id}",
            {"status": STATUS_TO_META[status]},
            validate_only=validate_only,
            safety="idempotent",
        )
        if isinstance(body, DryRun):
            return body
        return await self.get_object(account, level, external_id)

    async def set_daily_budget(
        self,
        account: AdAccountView,
        level: Level,
        external_id: str,
        daily_budget_minor: int,
        *,
        validate_only: bool = False,
    ) -> AdObject | DryRun:
        if level not in ("campaign", "adset"):
            raise AdsRequestRejected("only Meta campaigns and ad sets have a daily budget", platform=PLATFORM)
        if daily_budget_minor <= 0:
            raise AdsRequestRejected("a daily budget must be positive", platform=PLATFORM)
        body = await self._write(
            account,
            f"{self._base(account)}/{external_id}",
            {"daily_budget": str(budget_to_meta(daily_budget_minor, account.currency))},
            validate_only=validate_only,
            safety="idempotent",
        )
        if isinstance(body, DryRun):
            return body
        return await self.get_object(account, level, external_id)

    # -- insights -------------------------------------------------------------------------

    async def insights(self, account: AdAccountView, level: Level, since: date, until: date) -> list[InsightRow]:
        if level == "creative":
            raise AdsRequestRejected("Meta insights are by campaign, adset or ad; ask level=ad", platform=PLATFORM)
        if until < since:
            raise AdsRequestRejected("insights: until is before since", platform=PLATFORM)
        rows = await self._paged(
            account,
            f"{self._base(account)}/{self._act(account)}/insights",
            {
                "level": level,
                "time_range": {"since": since.isoformat(), "until": until.isoformat()},
                "time_increment": "1",
                "fields": INSIGHT_FIELDS,
            },
        )
        types = tuple(account.config.get("conversion_action_types") or DEFAULT_CONVERSION_TYPES)
        return [self._insight(account, level, r, types) for r in rows]

    @staticmethod
    def _insight(
        account: AdAccountView, level: Literal["campaign", "adset", "ad"], row: dict[str, Any], types: tuple[str, ...]
    ) -> InsightRow:
        currency = str(row.get("account_currency") or account.currency)

        def total(key: str) -> list[str]:
            items = row.get(key) if isinstance(row.get(key), list) else []
            return [
                str(a.get("value") or 0) for a in items or [] if isinstance(a, dict) and a.get("action_type") in types
            ]

        return InsightRow(
            platform="meta",
            level=level,
            external_id=str(row[f"{level}_id"]),
            day=date.fromisoformat(str(row["date_start"])),
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            spend_minor=decimal_to_minor(row.get("spend"), currency),
            conversions=sum(float(v) for v in total("actions")),
            conversion_value_minor=sum(decimal_to_minor(v, currency) for v in total("action_values")),
            campaign_external_id=str(row["campaign_id"]) if row.get("campaign_id") else None,
            currency=currency,
            raw=row,
        )

    # -- conversions ----------------------------------------------------------------------

    async def send_conversions(self, account: AdAccountView, events: list[ConversionEvent]) -> list[ConversionResult]:
        pixel_id = account.config.get("pixel_id")
        if not pixel_id:
            raise AdAccountNotConfigured(
                "the Meta ad account has no pixel_id (dataset) for the Conversions API",
                details={"account_id": str(account.id), "config": "pixel_id"},
            )
        results: list[ConversionResult] = []
        bodies: list[tuple[ConversionEvent, dict[str, Any]]] = []
        for ev in events:
            body = capi.server_event(
                ev,
                waba_id=account.config.get("waba_id"),
                default_action_source=str(account.config.get("capi_action_source") or "system_generated"),
                default_country_code=account.config.get("default_country_code", "55"),
            )
            if capi.has_identifier(body):
                bodies.append((ev, body))
            else:
                results.append(
                    ConversionResult(ev.event_id, accepted=False, error="no customer identifier to match on")
                )
        url = f"{self._base(account)}/{pixel_id}/events"
        for start in range(0, len(bodies), capi.MAX_EVENTS_PER_REQUEST):
            chunk = bodies[start : start + capi.MAX_EVENTS_PER_REQUEST]
            payload: dict[str, Any] = {"data": [b for _, b in chunk]}
            if account.config.get("capi_test_event_code"):
                payload["test_event_code"] = str(account.config["capi_test_event_code"])
            try:
                answer = await self._call(
                    account, "POST", url, json_body=payload, safety="idempotent", token_secret="capi_access_token"
                )
            except AdsRequestRejected as exc:
                # Meta refuses the whole request when one event is invalid.
                results.extend(
                    ConversionResult(ev.event_id, accepted=False, error=exc.message, raw={"error": exc.details})
                    for ev, _ in chunk
                )
                continue
            raw = {k: answer.get(k) for k in ("events_received", "messages", "fbtrace_id")}
            results.extend(ConversionResult(ev.event_id, accepted=True, raw=raw) for ev, _ in chunk)
        order = {ev.event_id: i for i, ev in enumerate(events)}
        return sorted(results, key=lambda r: order.get(r.event_id, 0))


__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "OBJECTIVES",
    "OPTIMIZATION_GOALS",
    "STATUS_FROM_META",
    "STATUS_TO_META",
    "MetaAdsConnector",
    "RetryPolicy",
]
