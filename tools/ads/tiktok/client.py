"""TikTok Marketing API v1.3 connector (``tools.ads.base.AdsConnector``) over an injected
``httpx.AsyncClient``.

* Base URL: ``AdAccountView.base_url`` (the sandbox) or ``https://business-api.tiktok.com``;
  every path is under ``/open_api/v1.3/``; the token goes in the ``Access-Token`` header
  (secret ``access_token``; the Events API uses ``events_access_token`` when provisioned).
* ``external_id`` of the account is the ``advertiser_id``; the Events API needs the pixel
  code in ``config["pixel_code"]``.
* Creates ask for ``operation_status: DISABLE``. TikTok ignores that field at campaign level
  unless the advertiser is allow-listed, so the connector reads the campaign back and, if it
  came out ENABLE, disables it at once (``campaign/status/update/``) before returning.
* TikTok has no validate-only mode: ``validate_only=True`` returns
  ``DryRun(supported=False)`` without any call.
* Retries (tenacity, jittered exponential backoff): reads, status and budget updates
  (idempotent: they set a value) and Events API batches (deduplicated by ``event_id``) are
  retried on rate limits, 5xx, 40700/5xxxx codes and transport errors. Creates are retried
  only when the request cannot have been processed: a connect error or a rate limit.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ..base import AdAccountView
from ..errors import AdsPlatformError, AdsRateLimited, AdsRequestRejected
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
from . import protocol as p

logger = logging.getLogger("tridium.tools.ads.tiktok")

OBJECTIVES: dict[Objective, str] = {
    "leads": "LEAD_GENERATION",
    "sales": "WEB_CONVERSIONS",
    "traffic": "TRAFFIC",
    "messages": "ENGAGEMENT",
    "awareness": "REACH",
}
# Ad group defaults per objective: (optimization_goal, billing_event). Assumed minimal set.
AD_GROUP_GOALS: dict[str, tuple[str, str]] = {
    "LEAD_GENERATION": ("LEAD_GENERATION", "OCPM"),
    "WEB_CONVERSIONS": ("CONVERT", "OCPM"),
    "TRAFFIC": ("CLICK", "CPC"),
    "ENGAGEMENT": ("CLICK", "CPC"),
    "REACH": ("REACH", "CPM"),
}
# TikTok location_ids are GeoNames ids (assumed); account config "location_ids" overrides.
COUNTRY_LOCATION_IDS = {"BR": "3469034", "US": "6252001", "PT": "2264397", "AR": "3865483", "MX": "3996063"}
AGE_GROUPS = ((13, 17, "AGE_13_17"), (18, 24, "AGE_18_24"), (25, 34, "AGE_25_34"), (35, 44, "AGE_35_44"))
AGE_GROUPS_TAIL = ((45, 54, "AGE_45_54"), (55, 100, "AGE_55_100"))
LEVEL_PATHS = {"campaign": "campaign", "adset": "adgroup", "ad": "ad"}
ID_FIELDS = {"campaign": "campaign_id", "adset": "adgroup_id", "ad": "ad_id"}
DATA_LEVELS = {"campaign": "AUCTION_CAMPAIGN", "adset": "AUCTION_ADGROUP", "ad": "AUCTION_AD"}
REPORT_METRICS = ("spend", "impressions", "clicks", "conversion")
REPORT_WINDOW_DAYS = 30
EVENT_NAMES = {"purchase": "CompletePayment", "lead": "SubmitForm"}
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Retry(enum.Enum):
    SAFE = "safe"  # reads and idempotent writes
    UNSENT_ONLY = "unsent_only"  # creates


class _Unsent(AdsPlatformError):
    """A transport error before the request could reach TikTok."""


@dataclass(frozen=True)
class TikTokSettings:
    page_size: int = 1000  # campaign/get and report pages (TikTok allows 1-1000)
    max_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    user_agent: str = "tridium-ads/1.0"


def _status_of(item: dict[str, Any]) -> AdStatus:
    secondary = str(item.get("secondary_status") or "")
    op = str(item.get("operation_status") or "")
    if secondary.endswith("_DELETE") or op == "DELETE":
        return "removed"
    return "active" if op == "ENABLE" else "paused"


def _day(value: Any) -> date:
    # "2025-11-12 00:00:00" (what TikTok returns) or "2025-11-12"
    return date.fromisoformat(str(value)[:10])


def _int(value: Any) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        return 0  # TikTok answers "-" for a metric it has no value for


class TikTokAdsConnector:
    platform: Platform = "tiktok"

    def __init__(self, http: httpx.AsyncClient, settings: TikTokSettings | None = None) -> None:
        self._http = http
        self._settings = settings or TikTokSettings()
        self._backoff = wait_exponential_jitter(
            multiplier=self._settings.backoff_initial_s,
            jitter=self._settings.backoff_initial_s,
            max=self._settings.backoff_max_s,
        )

    # --- transport ---------------------------------------------------------------------------

    def _url(self, account: AdAccountView, path: str) -> str:
        base = (account.base_url or p.DEFAULT_BASE_URL).rstrip("/")
        return f"{base}{p.API_PREFIX}{path}"

    async def _send_once(
        self, account: AdAccountView, method: str, path: str, body: dict[str, Any] | None, token: str
    ) -> dict[str, Any]:
        headers = {"Access-Token": token, "User-Agent": self._settings.user_agent, "Accept": "application/json"}
        try:
            if method == "GET":
                params = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (body or {}).items()}
                response = await self._http.get(self._url(account, path), params=params, headers=headers)
            else:
                headers["Content-Type"] = "application/json"
                response = await self._http.post(self._url(account, path), content=p.dumps(body or {}), headers=headers)
        except _UNSENT as exc:
            raise _Unsent(
                f"TikTok {path}: could not connect ({type(exc).__name__})", platform=p.PLATFORM, retriable=True
            ) from exc
        except httpx.TransportError as exc:
            raise AdsPlatformError(
                f"TikTok {path}: no answer ({type(exc).__name__})", platform=p.PLATFORM, retriable=True
            ) from exc
        retry_after = _retry_after(response)
        if response.status_code == 429:
            raise AdsRateLimited(
                f"TikTok {path}: HTTP 429", platform=p.PLATFORM, retry_after_s=retry_after, http_status=429
            )
        if response.status_code >= 500:
            raise AdsPlatformError(
                f"TikTok {path}: HTTP {response.status_code}",
                platform=p.PLATFORM,
                retriable=True,
                http_status=response.status_code,
            )
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            raise AdsPlatformError(
                f"TikTok {path}: HTTP {response.status_code} without a JSON envelope",
                platform=p.PLATFORM,
                retriable=False,
                http_status=response.status_code,
            )
        error = p.error_for(path, envelope, http_status=response.status_code, retry_after_s=retry_after)
        if error is not None:
            raise error
        data = envelope.get("data")
        return data if isinstance(data, dict) else {}

    def _retryable(self, policy: Retry, exc: BaseException) -> bool:
        if isinstance(exc, AdsRateLimited | _Unsent):
            return True
        if isinstance(exc, AdsPlatformError):
            return policy is Retry.SAFE and exc.retriable
        return False

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = self._backoff(state)
        if isinstance(exc, AdsRateLimited) and exc.retry_after_s:
            return max(backoff, exc.retry_after_s)
        return backoff

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        logger.warning("tiktok call failed (%s), attempt %d; retrying in %.2fs", exc, state.attempt_number, sleep)

    async def _call(
        self,
        account: AdAccountView,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        retry: Retry,
        token_secret: str = "access_token",
    ) -> dict[str, Any]:
        token = account.secret(token_secret)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: self._retryable(retry, e)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(account, method, path, body, token)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # --- mapping -----------------------------------------------------------------------------

    def _budget_minor(self, account: AdAccountView, item: dict[str, Any]) -> int | None:
        if item.get("budget_mode") in (None, "BUDGET_MODE_INFINITE") or item.get("budget") is None:
            return None
        try:
            return p.to_minor(item["budget"], account.currency)
        except ValueError as exc:
            raise AdsPlatformError(
                f"TikTok answered a budget we cannot hold exactly: {exc}",
                platform=p.PLATFORM,
                retriable=False,
                details={"budget": str(item.get("budget"))},
            ) from None

    def _object(self, account: AdAccountView, level: Level, item: dict[str, Any]) -> AdObject:
        if level == "campaign":
            return AdObject(
                platform="tiktok",
                level="campaign",
                external_id=str(item["campaign_id"]),
                name=str(item.get("campaign_name") or ""),
                status=_status_of(item),
                daily_budget_minor=self._budget_minor(account, item)
                if item.get("budget_mode") == "BUDGET_MODE_DAY"
                else None,
                raw=item,
            )
        if level == "adset":
            return AdObject(
                platform="tiktok",
                level="adset",
                external_id=str(item["adgroup_id"]),
                name=str(item.get("adgroup_name") or ""),
                status=_status_of(item),
                parent_external_id=str(item.get("campaign_id") or "") or None,
                daily_budget_minor=self._budget_minor(account, item)
                if item.get("budget_mode") == "BUDGET_MODE_DAY"
                else None,
                raw=item,
            )
        return AdObject(
            platform="tiktok",
            level="ad",
            external_id=str(item["ad_id"]),
            name=str(item.get("ad_name") or ""),
            status=_status_of(item),
            parent_external_id=str(item.get("adgroup_id") or "") or None,
            raw=item,
        )

    def _budget_units(self, account: AdAccountView, minor: int) -> float:
        try:
            return p.units_json(p.to_units(minor, account.currency))
        except (TypeError, ValueError) as exc:
            raise AdsRequestRejected(str(exc), platform=p.PLATFORM) from None

    @staticmethod
    def _level_path(level: Level) -> str:
        if level not in LEVEL_PATHS:
            raise AdsRequestRejected(
                f"TikTok has no {level} objects (the creative lives inside the ad)",
                platform=p.PLATFORM,
                details={"level": level},
            )
        return LEVEL_PATHS[level]

    @staticmethod
    def _no_dry_run() -> DryRun:
        return DryRun(
            supported=False,
            ok=False,
            messages=("the TikTok Marketing API has no validate-only mode; nothing was sent",),
        )

    # --- reads -------------------------------------------------------------------------------

    async def _list(
        self, account: AdAccountView, level: Level, filtering: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        path = f"{self._level_path(level)}/get/"
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            query: dict[str, Any] = {
                "advertiser_id": account.external_id,
                "page": page,
                "page_size": self._settings.page_size,
            }
            if filtering:
                query["filtering"] = filtering
            data = await self._call(account, "GET", path, query, retry=Retry.SAFE)
            items.extend(x for x in data.get("list") or [] if isinstance(x, dict))
            total_page = int((data.get("page_info") or {}).get("total_page") or 1)
            if page >= total_page:
                return items
            page += 1

    async def list_campaigns(self, account: AdAccountView) -> list[AdObject]:
        return [self._object(account, "campaign", x) for x in await self._list(account, "campaign")]

    async def get_object(self, account: AdAccountView, level: Level, external_id: str) -> AdObject:
        self._level_path(level)
        ids_key = f"{ID_FIELDS[level]}s"
        items = await self._list(account, level, {ids_key: [external_id]})
        for item in items:
            if str(item.get(ID_FIELDS[level])) == external_id:
                return self._object(account, level, item)
        raise AdsRequestRejected(
            f"TikTok has no {level} {external_id} on advertiser {account.external_id}",
            platform=p.PLATFORM,
            details={"level": level, "external_id": external_id},
        )

    # --- writes ------------------------------------------------------------------------------

    async def create_campaign(
        self, account: AdAccountView, spec: CampaignSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        if validate_only:
            return self._no_dry_run()
        body = {
            "advertiser_id": account.external_id,
            "campaign_name": spec.name,
            "objective_type": OBJECTIVES[spec.objective],
            "budget_mode": "BUDGET_MODE_DAY",
            "budget": self._budget_units(account, spec.daily_budget_minor),
            "budget_optimize_on": False,
            "operation_status": "DISABLE",
        }
        data = await self._call(account, "POST", "campaign/create/", body, retry=Retry.UNSENT_ONLY)
        campaign_id = str(data["campaign_id"])
        created = await self.get_object(account, "campaign", campaign_id)
        if created.status == "active":
            # operation_status at create is allow-list only and silently ignored otherwise.
            logger.info("tiktok campaign %s came out ENABLE; disabling it", campaign_id)
            await self._set_operation_status(account, "campaign", campaign_id, "DISABLE")
            created = await self.get_object(account, "campaign", campaign_id)
        return created

    def _location_ids(self, account: AdAccountView, countries: tuple[str, ...]) -> list[str]:
        configured = account.config.get("location_ids")
        if configured:
            return [str(x) for x in configured]
        missing = [c for c in countries if c.upper() not in COUNTRY_LOCATION_IDS]
        if missing:
            raise AdsRequestRejected(
                f"no TikTok location id known for {', '.join(missing)}; set config.location_ids",
                platform=p.PLATFORM,
                details={"countries": missing},
            )
        return [COUNTRY_LOCATION_IDS[c.upper()] for c in countries]

    @staticmethod
    def _age_groups(age_min: int, age_max: int) -> list[str]:
        return [name for lo, hi, name in (*AGE_GROUPS, *AGE_GROUPS_TAIL) if hi >= age_min and lo <= age_max]

    async def create_adset(
        self, account: AdAccountView, spec: AdSetSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        if validate_only:
            return self._no_dry_run()
        if spec.daily_budget_minor is None:
            raise AdsRequestRejected(
                "a TikTok ad group needs its own daily budget (campaign budget optimisation is off)",
                platform=p.PLATFORM,
                details={"field": "daily_budget_minor"},
            )
        campaign = await self.get_object(account, "campaign", spec.campaign_external_id)
        objective = str(campaign.raw.get("objective_type") or "TRAFFIC")
        goal, billing = AD_GROUP_GOALS.get(objective, ("CLICK", "CPC"))
        body: dict[str, Any] = {
            "advertiser_id": account.external_id,
            "campaign_id": spec.campaign_external_id,
            "adgroup_name": spec.name,
            "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
            "location_ids": self._location_ids(account, spec.countries),
            "age_groups": self._age_groups(spec.age_min, spec.age_max),
            "budget_mode": "BUDGET_MODE_DAY",
            "budget": self._budget_units(account, spec.daily_budget_minor),
            "schedule_type": "SCHEDULE_FROM_NOW",
            "schedule_start_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "optimization_goal": goal,
            "billing_event": billing,
            "bid_type": "BID_TYPE_NO_BID",
            "operation_status": "DISABLE",
        }
        if objective in ("WEB_CONVERSIONS", "LEAD_GENERATION") and account.config.get("pixel_id"):
            body["pixel_id"] = str(account.config["pixel_id"])
        data = await self._call(account, "POST", "adgroup/create/", body, retry=Retry.UNSENT_ONLY)
        adgroup_id = str(data["adgroup_id"])
        created = await self.get_object(account, "adset", adgroup_id)
        if created.status == "active":
            await self._set_operation_status(account, "adset", adgroup_id, "DISABLE")
            created = await self.get_object(account, "adset", adgroup_id)
        return created

    async def create_ad(
        self, account: AdAccountView, spec: CreativeSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        if validate_only:
            return self._no_dry_run()
        identity_id = account.config.get("identity_id")
        if not identity_id:
            raise AdsRequestRejected(
                "a TikTok ad needs an identity: set config.identity_id (and identity_type) on the ad account",
                platform=p.PLATFORM,
                details={"field": "identity_id"},
            )
        creative: dict[str, Any] = {
            "ad_name": spec.name,
            "ad_text": spec.body,
            "call_to_action": spec.call_to_action,
            "landing_page_url": spec.link_url,
            "identity_id": str(identity_id),
            "identity_type": str(account.config.get("identity_type") or "CUSTOMIZED_USER"),
            "ad_format": "SINGLE_IMAGE",
            "operation_status": "DISABLE",
        }
        image_ids = account.config.get("image_ids")
        video_id = account.config.get("video_id")
        if video_id:
            creative["ad_format"] = "SINGLE_VIDEO"
            creative["video_id"] = str(video_id)
        elif image_ids:
            creative["image_ids"] = [str(x) for x in image_ids]
        else:
            raise AdsRequestRejected(
                "a TikTok ad needs uploaded media: set config.video_id or config.image_ids on the ad account",
                platform=p.PLATFORM,
                details={"field": "image_ids"},
            )
        body = {"advertiser_id": account.external_id, "adgroup_id": spec.adset_external_id, "creatives": [creative]}
        data = await self._call(account, "POST", "ad/create/", body, retry=Retry.UNSENT_ONLY)
        ad_ids = data.get("ad_ids") or []
        if not ad_ids:
            raise AdsPlatformError("TikTok ad/create/ answered no ad_ids", platform=p.PLATFORM, retriable=False)
        ad_id = str(ad_ids[0])
        created = await self.get_object(account, "ad", ad_id)
        if created.status == "active":
            await self._set_operation_status(account, "ad", ad_id, "DISABLE")
            created = await self.get_object(account, "ad", ad_id)
        return created

    async def _set_operation_status(self, account: AdAccountView, level: Level, external_id: str, op: str) -> None:
        path = f"{self._level_path(level)}/status/update/"
        body = {"advertiser_id": account.external_id, f"{ID_FIELDS[level]}s": [external_id], "operation_status": op}
        await self._call(account, "POST", path, body, retry=Retry.SAFE)

    async def set_status(
        self, account: AdAccountView, level: Level, external_id: str, status: AdStatus, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        ops = {"active": "ENABLE", "paused": "DISABLE", "removed": "DELETE"}
        if status not in ops:
            raise AdsRequestRejected(
                f"TikTok has no {status} status (ENABLE, DISABLE, DELETE only)",
                platform=p.PLATFORM,
                details={"status": status},
            )
        self._level_path(level)
        if validate_only:
            return self._no_dry_run()
        if status == "removed":
            # */get/ lists only objects that are not deleted: read first, then delete.
            before = await self.get_object(account, level, external_id)
            await self._set_operation_status(account, level, external_id, "DELETE")
            return replace(before, status="removed")
        await self._set_operation_status(account, level, external_id, ops[status])
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
            raise AdsRequestRejected(
                f"TikTok budgets live on campaigns and ad groups, not on {level}",
                platform=p.PLATFORM,
                details={"level": level},
            )
        if daily_budget_minor <= 0:
            raise AdsRequestRejected("a daily budget is positive", platform=p.PLATFORM)
        units = self._budget_units(account, daily_budget_minor)
        if validate_only:
            return self._no_dry_run()
        path = "campaign/update/" if level == "campaign" else "adgroup/update/"
        body = {"advertiser_id": account.external_id, ID_FIELDS[level]: external_id, "budget": units}
        await self._call(account, "POST", path, body, retry=Retry.SAFE)
        return await self.get_object(account, level, external_id)

    # --- reporting ---------------------------------------------------------------------------

    async def insights(self, account: AdAccountView, level: Level, since: date, until: date) -> list[InsightRow]:
        if level not in DATA_LEVELS:
            raise AdsRequestRejected(f"no TikTok report at {level} level", platform=p.PLATFORM)
        if until < since:
            raise AdsRequestRejected("the report range ends before it starts", platform=p.PLATFORM)
        rows: list[InsightRow] = []
        start = since
        while start <= until:  # stat_time_day reports span at most REPORT_WINDOW_DAYS
            end = min(until, start + timedelta(days=REPORT_WINDOW_DAYS - 1))
            rows.extend(await self._report(account, level, start, end))
            start = end + timedelta(days=1)
        rows.sort(key=lambda r: (r.day, r.external_id))
        return rows

    async def _report(self, account: AdAccountView, level: Level, since: date, until: date) -> list[InsightRow]:
        id_field = ID_FIELDS[level]
        report_level: Any = level
        rows: list[InsightRow] = []
        page = 1
        while True:
            query: dict[str, Any] = {
                "advertiser_id": account.external_id,
                "report_type": "BASIC",
                "data_level": DATA_LEVELS[level],
                "dimensions": [id_field, "stat_time_day"],
                "metrics": list(REPORT_METRICS) + (["campaign_id"] if level != "campaign" else []),
                "start_date": since.isoformat(),
                "end_date": until.isoformat(),
                "page": page,
                "page_size": self._settings.page_size,
            }
            data = await self._call(account, "GET", "report/integrated/get/", query, retry=Retry.SAFE)
            for item in data.get("list") or []:
                dims = item.get("dimensions") or {}
                metrics = item.get("metrics") or {}
                try:
                    spend = p.to_minor(metrics.get("spend") or "0", account.currency)
                except ValueError as exc:
                    raise AdsPlatformError(
                        f"TikTok report spend we cannot hold exactly: {exc}", platform=p.PLATFORM, retriable=False
                    ) from None
                external_id = str(dims[id_field])
                campaign_id = external_id if level == "campaign" else (str(metrics.get("campaign_id") or "") or None)
                rows.append(
                    InsightRow(
                        platform="tiktok",
                        level=report_level,
                        external_id=external_id,
                        day=_day(dims["stat_time_day"]),
                        impressions=_int(metrics.get("impressions")),
                        clicks=_int(metrics.get("clicks")),
                        spend_minor=spend,
                        conversions=float(_int(metrics.get("conversion"))),
                        campaign_external_id=campaign_id,
                        currency=account.currency,
                        raw=item,
                    )
                )
            total_page = int((data.get("page_info") or {}).get("total_page") or 1)
            if page >= total_page:
                return rows
            page += 1

    # --- Events API --------------------------------------------------------------------------

    def _event(self, account: AdAccountView, event: ConversionEvent) -> dict[str, Any]:
        names: dict[str, Any] = {**EVENT_NAMES, **(account.config.get("event_names") or {})}
        user: dict[str, Any] = {}
        if event.email:
            user["email"] = p.hash_email(event.email)
        if event.phone:
            user["phone"] = p.hash_phone(event.phone)
        if event.external_id:
            user["external_id"] = p.hash_external_id(event.external_id)
        if event.click_id and event.click_id_kind == "ttclid":
            user["ttclid"] = event.click_id
        item: dict[str, Any] = {
            "event": str(names[event.kind]),
            "event_time": int(event.occurred_at.timestamp()),
            "event_id": event.event_id,
            "user": user,
            "properties": {
                "currency": event.currency,
                "value": p.units_json(p.to_units(event.value_minor, event.currency)),
            },
        }
        if event.source_url:
            item["page"] = {"url": event.source_url}
        return item

    async def send_conversions(self, account: AdAccountView, events: list[ConversionEvent]) -> list[ConversionResult]:
        if not events:
            return []
        pixel_code = account.config.get("pixel_code")
        if not pixel_code:
            raise AdsRequestRejected(
                "the TikTok ad account has no config.pixel_code for the Events API", platform=p.PLATFORM
            )
        body = {
            "event_source": "web",
            "event_source_id": str(pixel_code),
            "data": [self._event(account, e) for e in events],
        }
        token = "events_access_token" if "events_access_token" in account.secrets else "access_token"
        # Safe to retry: TikTok deduplicates identical event + event_id within 48 hours.
        data = await self._call(account, "POST", "event/track/", body, retry=Retry.SAFE, token_secret=token)
        return [ConversionResult(event_id=e.event_id, accepted=True, raw=data) for e in events]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


__all__ = ["TikTokAdsConnector", "TikTokSettings"]
