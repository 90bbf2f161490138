"""``GoogleAdsConnector``: the ``AdsConnector`` for the Google Ads API, over REST/JSON.

No google-ads library: plain HTTPS over an injected ``httpx.AsyncClient`` to
``{base}/v{N}/customers/{customer_id}/...`` with ``Authorization: Bearer <OAuth access
token>``, ``developer-token`` (sent when the account still has one; Google ignores it
since 2026-09-09) and ``login-customer-id`` (when the account is reached through a
manager). What the account view must carry:

* ``external_id``: the customer id (digits; dashes are dropped);
* ``secrets["access_token"]`` (an OAuth access token; refreshing it is the caller's job),
  optional ``secrets["developer_token"]``;
* ``config``: optional ``login_customer_id``; ``conversion_action_id`` (or
  ``conversion_actions: {"purchase": id, "lead": id}``) for click-conversion uploads;
  optional ``advertising_channel_type`` (default ``SEARCH``), ``bidding``
  (``manual_cpc`` default, or ``maximize_conversions``), ``cpc_bid_micros`` for ad groups.

Levels: ``campaign`` = campaign (+ its own, non-shared campaign budget), ``adset`` = ad
group, ``ad`` = ad group ad (a responsive search ad), external id ``"{adGroupId}~{adId}"``.
Creates are always ``PAUSED``. ``create_campaign`` sends budget and campaign in one atomic
``googleAds:mutate`` with a temporary budget resource name (``.../campaignBudgets/-1``), so a
failed campaign leaves no orphan budget and ``validate_only`` can check both.

Retries (tenacity, jittered exponential backoff): reads, idempotent updates and conversion
uploads (deduplicated by ``orderId``) retry on 5xx / transport errors / quota errors;
creates retry only on quota errors (refused before anything was done) and connection
failures (nothing was sent) - a 5xx after a create is raised with ``retriable=False``. A
quota error whose ``retryDelay`` exceeds ``max_retry_wait_s`` is raised at once as
``AdsRateLimited`` with ``retry_after_s``.
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ..base import AdAccountView, AdsConnector
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
    Platform,
)
from .errors import GoogleAdsErrorItem, error_from_response, parse_status
from .hashing import hashed_email, hashed_phone
from .units import (
    NonIntegerMinorUnits,
    cost_micros_to_minor,
    micros_to_minor,
    minor_to_micros,
    minor_to_value,
    value_to_minor,
)

logger = logging.getLogger("tridium.tools.ads.google")

GOOGLE_ADS_HOST = "https://googleads.googleapis.com"
DEFAULT_API_VERSION = "v26"
PLATFORM: Platform = "google"
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_STATUS_IN = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "removed"}
_STATUS_OUT = {"active": "ENABLED", "paused": "PAUSED"}
_DUPLICATE_CODES = frozenset(
    {"conversionUploadError.CLICK_CONVERSION_ALREADY_EXISTS", "conversionUploadError.ORDER_ID_ALREADY_IN_USE"}
)


class Retry(enum.Enum):
    SAFE = "safe"  # reads and idempotent updates
    UNSENT_ONLY = "unsent_only"  # creates, uploads


class MutateOutcome:
    """A mutate with ``partialFailure``: one entry per operation, a resource name or the
    errors Google reported for that operation's index."""

    def __init__(
        self, results: list[str | None], errors: dict[int, list[GoogleAdsErrorItem]], raw: dict[str, Any]
    ) -> None:
        self.results = results
        self.errors = errors
        self.raw = raw

    @property
    def ok(self) -> bool:
        return not self.errors


def _customer(account: AdAccountView) -> str:
    cid = account.external_id.replace("-", "").strip()
    if not cid.isdigit():
        raise AdAccountNotConfigured(
            "the Google Ads account id must be a customer id (digits)", details={"account_id": str(account.id)}
        )
    return cid


def _tail(resource_name: str) -> str:
    return resource_name.rsplit("/", 1)[-1]


def _validated(raw: dict[str, Any]) -> DryRun:
    """What a ``validateOnly`` request that Google accepted returns."""
    return DryRun(supported=True, ok=True, messages=("validated by Google Ads (validateOnly)",), raw=raw)


def _created(outcome: MutateOutcome, level: Level, name: str, parent_external_id: str) -> AdObject:
    """The paused object one ``create`` operation made."""
    rn = outcome.results[0]
    assert rn is not None
    return AdObject(
        platform=PLATFORM,
        level=level,
        external_id=_tail(rn),
        name=name,
        status="paused",
        parent_external_id=parent_external_id,
        raw=outcome.raw,
    )


def _gaql_date(d: date) -> str:
    return d.isoformat()


class GoogleAdsConnector:
    platform: Platform = PLATFORM

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_version: str = DEFAULT_API_VERSION,
        *,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_retry_wait_s: float = 60.0,
    ) -> None:
        if not re.fullmatch(r"v\d+", api_version):
            raise ValueError("api_version looks like 'v26'")
        self._http = http
        self.api_version = api_version
        self._max_attempts = max_attempts
        self._max_retry_wait_s = max_retry_wait_s
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial_s, jitter=backoff_initial_s, max=backoff_max_s
        )

    # --- transport ----------------------------------------------------------------------

    def _url(self, account: AdAccountView, path: str) -> str:
        base = (account.base_url or GOOGLE_ADS_HOST).rstrip("/")
        return f"{base}/{self.api_version}/customers/{_customer(account)}{path}"

    @staticmethod
    def _headers(account: AdAccountView) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {account.secret('access_token')}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        dev = account.secrets.get("developer_token")
        if dev is not None and dev.get_secret_value():
            headers["developer-token"] = dev.get_secret_value()
        login = str(account.config.get("login_customer_id") or "").replace("-", "")
        if login:
            headers["login-customer-id"] = login
        return headers

    async def _send_once(self, account: AdAccountView, path: str, body: dict[str, Any], retry: Retry) -> Any:
        where = f"POST {path}"
        try:
            response = await self._http.post(self._url(account, path), json=body, headers=self._headers(account))
        except _UNSENT as exc:
            raise AdsPlatformError(
                f"Google Ads {where}: could not connect ({type(exc).__name__})", platform=PLATFORM, retriable=True
            ) from exc
        except httpx.TransportError as exc:
            raise AdsPlatformError(
                f"Google Ads {where}: no answer ({type(exc).__name__})",
                platform=PLATFORM,
                retriable=retry is Retry.SAFE,  # a create may have been applied
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            if data is None:
                raise AdsPlatformError(f"Google Ads {where}: answer is not JSON", platform=PLATFORM, retriable=False)
            return data
        exc2 = error_from_response(response.status_code, data or {}, where=where)
        if isinstance(exc2, AdsPlatformError) and not isinstance(exc2, AdsRateLimited) and retry is Retry.UNSENT_ONLY:
            exc2.retriable = False  # a 5xx after a create was sent: the outcome is unknown
        raise exc2

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, AdsRateLimited):
            return exc.retry_after_s is None or exc.retry_after_s <= self._max_retry_wait_s
        return isinstance(exc, AdsPlatformError) and exc.retriable

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = float(self._backoff(state))
        if isinstance(exc, AdsRateLimited) and exc.retry_after_s is not None:
            return max(exc.retry_after_s, 0.0)
        return backoff

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        logger.warning("google ads call failed (%s), attempt %d; retrying in %.2fs", exc, state.attempt_number, sleep)

    async def _post(self, account: AdAccountView, path: str, body: dict[str, Any], *, retry: Retry) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(account, path, body, retry)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # --- generic API --------------------------------------------------------------------

    async def search(self, account: AdAccountView, query: str) -> list[dict[str, Any]]:
        """``googleAds:searchStream``: every row of every batch."""
        batches = await self._post(account, "/googleAds:searchStream", {"query": query}, retry=Retry.SAFE)
        if isinstance(batches, dict):
            batches = [batches]
        rows: list[dict[str, Any]] = []
        for batch in batches or []:
            rows.extend(batch.get("results") or [])
        return rows

    async def mutate(
        self,
        account: AdAccountView,
        collection: str,
        operations: list[dict[str, Any]],
        *,
        partial_failure: bool = False,
        validate_only: bool = False,
        idempotent: bool = False,
    ) -> MutateOutcome:
        """``{collection}:mutate`` (``campaignBudgets``, ``campaigns``, ``adGroups``,
        ``adGroupAds``). With ``partial_failure`` the valid operations are applied and the
        others come back as per-index errors instead of failing the whole request."""
        body: dict[str, Any] = {"operations": operations}
        if partial_failure:
            body["partialFailure"] = True
        if validate_only:
            body["validateOnly"] = True
        data = await self._post(
            account, f"/{collection}:mutate", body, retry=Retry.SAFE if idempotent else Retry.UNSENT_ONLY
        )
        return _outcome(data, len(operations))

    # --- AdsConnector ---------------------------------------------------------------------

    async def list_campaigns(self, account: AdAccountView) -> list[AdObject]:
        rows = await self.search(
            account,
            "SELECT campaign.id, campaign.name, campaign.status, campaign_budget.amount_micros FROM campaign",
        )
        return [self._campaign(account, r) for r in rows]

    async def get_object(self, account: AdAccountView, level: Level, external_id: str) -> AdObject:
        if level == "campaign":
            rows = await self.search(
                account,
                "SELECT campaign.id, campaign.name, campaign.status, campaign_budget.amount_micros FROM campaign "
                f"WHERE campaign.id = {_num(external_id)}",
            )
            build = self._campaign
        elif level == "adset":
            rows = await self.search(
                account,
                "SELECT ad_group.id, ad_group.name, ad_group.status, campaign.id FROM ad_group "
                f"WHERE ad_group.id = {_num(external_id)}",
            )
            build = self._ad_group
        elif level == "ad":
            group, _, ad = external_id.partition("~")
            rows = await self.search(
                account,
                "SELECT ad_group_ad.ad.id, ad_group_ad.ad.name, ad_group_ad.status, ad_group.id FROM ad_group_ad "
                f"WHERE ad_group.id = {_num(group)} AND ad_group_ad.ad.id = {_num(ad)}",
            )
            build = self._ad
        else:
            raise AdsRequestRejected("Google Ads has no separate ad creative object", platform=PLATFORM)
        if not rows:
            raise AdsRequestRejected(
                f"no Google Ads {level} {external_id}",
                platform=PLATFORM,
                provider_code="NOT_FOUND",
                details={"level": level, "external_id": external_id},
            )
        return build(account, rows[0])

    async def create_campaign(
        self, account: AdAccountView, spec: CampaignSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        cid = _customer(account)
        budget_temp = f"customers/{cid}/campaignBudgets/-1"
        bidding = str(account.config.get("bidding", "manual_cpc"))
        campaign: dict[str, Any] = {
            "name": spec.name,
            "status": "PAUSED",  # always: going live is an approved status change
            "advertisingChannelType": str(account.config.get("advertising_channel_type", "SEARCH")),
            "campaignBudget": budget_temp,
            "containsEuPoliticalAdvertising": "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING",
        }
        if bidding == "maximize_conversions":
            campaign["maximizeConversions"] = {}
        else:
            campaign["manualCpc"] = {}
        body: dict[str, Any] = {
            "mutateOperations": [
                {
                    "campaignBudgetOperation": {
                        "create": {
                            "resourceName": budget_temp,
                            # budget names are unique per account: never reuse one by accident
                            "name": f"{spec.name} budget [{spec.client_ref or secrets.token_hex(4)}]",
                            "amountMicros": str(minor_to_micros(spec.daily_budget_minor, account.currency)),
                            "deliveryMethod": "STANDARD",
                            "explicitlyShared": False,
                        }
                    }
                },
                {"campaignOperation": {"create": campaign}},
            ]
        }
        if validate_only:
            body["validateOnly"] = True
        data = await self._post(account, "/googleAds:mutate", body, retry=Retry.UNSENT_ONLY)
        if validate_only:
            return _validated(data)
        responses = data.get("mutateOperationResponses") or []
        campaign_rn = (responses[1].get("campaignResult") or {}).get("resourceName") if len(responses) > 1 else None
        if not campaign_rn:
            raise AdsPlatformError("Google Ads created no campaign", platform=PLATFORM, retriable=False, details=data)
        return AdObject(
            platform=PLATFORM,
            level="campaign",
            external_id=_tail(campaign_rn),
            name=spec.name,
            status="paused",
            daily_budget_minor=spec.daily_budget_minor,
            raw=data,
        )

    async def create_adset(
        self, account: AdAccountView, spec: AdSetSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        if spec.daily_budget_minor is not None:
            raise AdsRequestRejected(
                "Google Ads ad groups have no budget of their own (the campaign budget applies)", platform=PLATFORM
            )
        cid = _customer(account)
        create: dict[str, Any] = {
            "name": spec.name,
            "campaign": f"customers/{cid}/campaigns/{_num(spec.campaign_external_id)}",
            "status": "PAUSED",
            "type": "SEARCH_STANDARD",
        }
        if account.config.get("cpc_bid_micros"):
            create["cpcBidMicros"] = str(int(account.config["cpc_bid_micros"]))
        outcome = await self.mutate(account, "adGroups", [{"create": create}], validate_only=validate_only)
        if validate_only:
            return _validated(outcome.raw)
        return _created(outcome, "adset", spec.name, spec.campaign_external_id)

    async def create_ad(
        self, account: AdAccountView, spec: CreativeSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        """A responsive search ad: ``headline`` and ``body`` carry one text per line
        (3-15 headlines of ≤30 characters, 2-4 descriptions of ≤90); Google rejects
        fewer or longer ones (``AdsRequestRejected``)."""
        cid = _customer(account)
        headlines = [h.strip() for h in spec.headline.splitlines() if h.strip()]
        descriptions = [d.strip() for d in spec.body.splitlines() if d.strip()]
        create = {
            "adGroup": f"customers/{cid}/adGroups/{_num(spec.adset_external_id)}",
            "status": "PAUSED",
            "ad": {
                "name": spec.name,
                "finalUrls": [spec.link_url],
                "responsiveSearchAd": {
                    "headlines": [{"text": h} for h in headlines],
                    "descriptions": [{"text": d} for d in descriptions],
                },
            },
        }
        outcome = await self.mutate(account, "adGroupAds", [{"create": create}], validate_only=validate_only)
        if validate_only:
            return _validated(outcome.raw)
        return _created(outcome, "ad", spec.name, spec.adset_external_id)

    async def set_status(
        self, account: AdAccountView, level: Level, external_id: str, status: AdStatus, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        collection = _collection(level)
        rn = f"customers/{_customer(account)}/{collection}/{_ext(level, external_id)}"
        if status == "removed":
            op: dict[str, Any] = {"remove": rn}
        elif status in _STATUS_OUT:
            op = {"update": {"resourceName": rn, "status": _STATUS_OUT[status]}, "updateMask": "status"}
        else:
            raise AdsRequestRejected(
                f"Google Ads has no {status!r} status (only ENABLED, PAUSED, REMOVED)",
                platform=PLATFORM,
                provider_code="UNSUPPORTED_STATUS",
            )
        outcome = await self.mutate(account, collection, [op], validate_only=validate_only, idempotent=True)
        if validate_only:
            return _validated(outcome.raw)
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
        if level != "campaign":
            raise AdsRequestRejected("Google Ads budgets belong to campaigns", platform=PLATFORM)
        if daily_budget_minor <= 0:
            raise AdsRequestRejected("a daily budget must be > 0", platform=PLATFORM)
        rows = await self.search(
            account,
            f"SELECT campaign.id, campaign.campaign_budget FROM campaign WHERE campaign.id = {_num(external_id)}",
        )
        if not rows:
            raise AdsRequestRejected(
                f"no Google Ads campaign {external_id}", platform=PLATFORM, provider_code="NOT_FOUND"
            )
        budget_rn = rows[0]["campaign"]["campaignBudget"]
        op = {
            "update": {
                "resourceName": budget_rn,
                "amountMicros": str(minor_to_micros(daily_budget_minor, account.currency)),
            },
            "updateMask": "amountMicros",
        }
        outcome = await self.mutate(account, "campaignBudgets", [op], validate_only=validate_only, idempotent=True)
        if validate_only:
            return _validated(outcome.raw)
        return await self.get_object(account, "campaign", external_id)

    async def insights(self, account: AdAccountView, level: Level, since: date, until: date) -> list[InsightRow]:
        metrics = (
            "segments.date, metrics.impressions, metrics.clicks, metrics.cost_micros, "
            "metrics.conversions, metrics.conversions_value"
        )
        where = f"WHERE segments.date BETWEEN '{_gaql_date(since)}' AND '{_gaql_date(until)}'"
        if level == "campaign":
            query = f"SELECT campaign.id, {metrics} FROM campaign {where}"
        elif level == "adset":
            query = f"SELECT ad_group.id, campaign.id, {metrics} FROM ad_group {where}"
        elif level == "ad":
            query = f"SELECT ad_group_ad.ad.id, ad_group.id, campaign.id, {metrics} FROM ad_group_ad {where}"
        else:
            raise AdsRequestRejected("Google Ads reports no creative level", platform=PLATFORM)
        out: list[InsightRow] = []
        for row in await self.search(account, query):
            m = row.get("metrics") or {}
            campaign_id = str((row.get("campaign") or {}).get("id", ""))
            if level == "campaign":
                ext = campaign_id
            elif level == "adset":
                ext = str(row["adGroup"]["id"])
            else:
                ext = f"{row['adGroup']['id']}~{row['adGroupAd']['ad']['id']}"
            out.append(
                InsightRow(
                    platform=PLATFORM,
                    level=level,
                    external_id=ext,
                    day=date.fromisoformat(row["segments"]["date"]),
                    impressions=int(m.get("impressions", 0)),
                    clicks=int(m.get("clicks", 0)),
                    spend_minor=cost_micros_to_minor(m.get("costMicros", 0), account.currency),
                    conversions=float(m.get("conversions", 0.0)),
                    conversion_value_minor=value_to_minor(m.get("conversionsValue", 0), account.currency),
                    campaign_external_id=campaign_id or None,
                    currency=account.currency,
                    raw=row,
                )
            )
        return out

    async def send_conversions(self, account: AdAccountView, events: list[ConversionEvent]) -> list[ConversionResult]:
        """``customers/{id}:uploadClickConversions`` with ``partialFailure: true`` (Google
        requires it). ``orderId`` = our ``event_id``: an order id counts once per conversion
        action, so a re-sent event comes back ``ORDER_ID_ALREADY_IN_USE`` and is reported
        ``duplicate=True`` (already recorded). Without a gclid/gbraid/wbraid the conversion
        goes as an enhanced conversion for leads: hashed e-mail/phone only."""
        cid = _customer(account)
        tz = ZoneInfo(account.timezone)
        results: dict[int, ConversionResult] = {}
        payload: list[dict[str, Any]] = []
        sent_index: list[int] = []
        for i, event in enumerate(events):
            try:
                conv = self._conversion(account, cid, tz, event)
            except ValueError as exc:
                results[i] = ConversionResult(event_id=event.event_id, accepted=False, error=f"not sent: {exc}")
                continue
            payload.append(conv)
            sent_index.append(i)
        if payload:
            # SAFE to retry: every conversion carries orderId = event_id, so a repeat of an
            # upload that did land comes back ORDER_ID_ALREADY_IN_USE (reported duplicate).
            data = await self._post(
                account,
                ":uploadClickConversions",
                {"conversions": payload, "partialFailure": True},
                retry=Retry.SAFE,
            )
            failed = _errors_by_index(data)
            for j, i in enumerate(sent_index):
                errs = failed.get(j, [])
                codes = [e.code for e in errs]
                if not errs:
                    results[i] = ConversionResult(event_id=events[i].event_id, accepted=True, raw=payload[j])
                elif all(c in _DUPLICATE_CODES for c in codes):
                    results[i] = ConversionResult(
                        event_id=events[i].event_id, accepted=True, duplicate=True, error=codes[0], raw=payload[j]
                    )
                else:
                    results[i] = ConversionResult(
                        event_id=events[i].event_id, accepted=False, error="; ".join(codes), raw=payload[j]
                    )
        return [results[i] for i in range(len(events))]

    # --- helpers ------------------------------------------------------------------------

    def _conversion(self, account: AdAccountView, cid: str, tz: ZoneInfo, event: ConversionEvent) -> dict[str, Any]:
        actions = account.config.get("conversion_actions") or {}
        action_id = (actions.get(event.kind) if isinstance(actions, dict) else None) or account.config.get(
            "conversion_action_id"
        )
        if not action_id:
            raise AdAccountNotConfigured(
                "the Google Ads account has no conversion action for uploads",
                details={"account_id": str(account.id), "kind": event.kind},
            )
        when = event.occurred_at.astimezone(tz)
        offset = when.strftime("%z")  # +HHMM
        conv: dict[str, Any] = {
            "conversionAction": f"customers/{cid}/conversionActions/{_num(str(action_id))}",
            "conversionDateTime": when.strftime("%Y-%m-%d %H:%M:%S") + f"{offset[:3]}:{offset[3:]}",
            "conversionValue": minor_to_value(event.value_minor, event.currency),
            "currencyCode": event.currency,
            "orderId": event.event_id,
        }
        kind = event.click_id_kind
        if event.click_id and kind in ("gclid", "gbraid", "wbraid"):
            conv[kind] = event.click_id
        identifiers: list[dict[str, str]] = []
        if event.email:
            identifiers.append({"hashedEmail": hashed_email(event.email)})
        if event.phone:
            identifiers.append({"hashedPhoneNumber": hashed_phone(event.phone)})
        if identifiers:
            conv["userIdentifiers"] = identifiers
        if not any(k in conv for k in ("gclid", "gbraid", "wbraid")) and not identifiers:
            raise ValueError("no Google click id and no e-mail/phone to match the conversion")
        return conv

    def _budget_minor(self, account: AdAccountView, row: dict[str, Any]) -> int | None:
        micros = (row.get("campaignBudget") or {}).get("amountMicros")
        if micros is None:
            return None
        try:
            return micros_to_minor(micros, account.currency)
        except NonIntegerMinorUnits as exc:
            raise AdsPlatformError(
                f"Google Ads budget {micros} micros is not a whole number of {account.currency} minor units",
                platform=PLATFORM,
                retriable=False,
                provider_code="NON_INTEGER_MINOR_UNITS",
            ) from exc

    def _campaign(self, account: AdAccountView, row: dict[str, Any]) -> AdObject:
        c = row["campaign"]
        return AdObject(
            platform=PLATFORM,
            level="campaign",
            external_id=str(c["id"]),
            name=str(c.get("name", "")),
            status=_status(c.get("status")),
            daily_budget_minor=self._budget_minor(account, row),
            raw=row,
        )

    def _ad_group(self, account: AdAccountView, row: dict[str, Any]) -> AdObject:
        g = row["adGroup"]
        return AdObject(
            platform=PLATFORM,
            level="adset",
            external_id=str(g["id"]),
            name=str(g.get("name", "")),
            status=_status(g.get("status")),
            parent_external_id=str((row.get("campaign") or {}).get("id", "")) or None,
            raw=row,
        )

    def _ad(self, account: AdAccountView, row: dict[str, Any]) -> AdObject:
        a = row["adGroupAd"]
        group = str(row["adGroup"]["id"])
        return AdObject(
            platform=PLATFORM,
            level="ad",
            external_id=f"{group}~{a['ad']['id']}",
            name=str(a["ad"].get("name") or ""),
            status=_status(a.get("status")),
            parent_external_id=group,
            raw=row,
        )


def _status(value: Any) -> AdStatus:
    status = _STATUS_IN.get(str(value))
    if status is None:
        raise AdsPlatformError(f"unknown Google Ads status {value!r}", platform=PLATFORM, retriable=False)
    return status  # type: ignore[return-value]


def _collection(level: Level) -> str:
    collections = {"campaign": "campaigns", "adset": "adGroups", "ad": "adGroupAds"}
    if level not in collections:
        raise AdsRequestRejected("Google Ads has no separate ad creative object", platform=PLATFORM)
    return collections[level]


def _num(value: str) -> str:
    """An id going into GAQL or a resource name: digits only (no injection)."""
    text = str(value).strip()
    if not text.isdigit():
        raise AdsRequestRejected(f"not a Google Ads id: {value!r}", platform=PLATFORM, provider_code="INVALID_ID")
    return text


def _ext(level: Level, external_id: str) -> str:
    if level == "ad":
        group, sep, ad = external_id.partition("~")
        if not sep:
            raise AdsRequestRejected(
                "a Google ad id is '{adGroupId}~{adId}'", platform=PLATFORM, provider_code="INVALID_ID"
            )
        return f"{_num(group)}~{_num(ad)}"
    return _num(external_id)


def _errors_by_index(data: dict[str, Any]) -> dict[int, list[GoogleAdsErrorItem]]:
    pfe = data.get("partialFailureError") if isinstance(data, dict) else None
    if not pfe:
        return {}
    out: dict[int, list[GoogleAdsErrorItem]] = {}
    for item in parse_status(200, pfe).errors:
        if item.index is None:
            raise AdsPlatformError(
                f"Google Ads partial failure without an operation index: {item.code}",
                platform=PLATFORM,
                retriable=False,
            )
        out.setdefault(item.index, []).append(item)
    return out


def _outcome(data: dict[str, Any], n: int) -> MutateOutcome:
    errors = _errors_by_index(data)
    results: list[str | None] = []
    raw_results = data.get("results") or []
    for i in range(n):
        entry = raw_results[i] if i < len(raw_results) else {}
        rn = entry.get("resourceName") if isinstance(entry, dict) else None
        results.append(None if i in errors else rn)
    return MutateOutcome(results, errors, data)


def _conforms(http: httpx.AsyncClient) -> AdsConnector:
    """Type check only: ``GoogleAdsConnector`` implements the ``AdsConnector`` protocol."""
    return GoogleAdsConnector(http)


__all__ = ["DEFAULT_API_VERSION", "GOOGLE_ADS_HOST", "GoogleAdsConnector", "MutateOutcome", "Retry"]
