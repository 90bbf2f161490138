"""Mutate operations of the sandbox: campaign budgets, campaigns, ad groups, ad group ads.

Each handler validates one operation against a working copy of the account's objects and
applies it there; ``OpError`` carries Google's error code for that operation. The caller
(``app``) decides atomicity (all-or-nothing unless ``partialFailure``) and ``validateOnly``
(discard the copy)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .store import Account, Objects, Store

STATUSES = frozenset({"ENABLED", "PAUSED"})
_RN = re.compile(r"^customers/(\d+)/(campaignBudgets|campaigns|adGroups|adGroupAds)/(-?\d+(?:~-?\d+)?)$")


class OpError(Exception):
    def __init__(self, kind: str, reason: str, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message
        self.path = path


class UnknownField(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Ctx:
    """One request: the account, its working copy, temporary resource names seen so far."""

    def __init__(self, store: Store, account: Account, objects: Objects) -> None:
        self.store = store
        self.account = account
        self.objects = objects
        self.temp: dict[str, str] = {}  # temporary resource name -> real one

    def resolve(self, rn: Any, collection: str, op_path: tuple[str, ...]) -> str:
        if not isinstance(rn, str):
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", op_path)
        rn = self.temp.get(rn, rn)
        m = _RN.match(rn)
        if m is None or m.group(2) != collection:
            raise OpError("requestError", "INVALID_RESOURCE_NAME", f"Malformed resource name {rn!r}.", op_path)
        if m.group(1) != self.account.customer_id:
            raise OpError("requestError", "INVALID_CUSTOMER_FOR_RESOURCE", "Resource is of another customer.", op_path)
        return m.group(3)

    def new_id(self, create: dict[str, Any], collection: str) -> str:
        real = self.store.next_id()
        temp = create.get("resourceName")
        if isinstance(temp, str) and _RN.match(temp) and temp.rsplit("/", 1)[1].startswith("-"):
            self.temp[temp] = self.account.rn(collection, real)
        return real


def _check_fields(obj: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in obj:
        if key not in allowed:
            raise UnknownField(key)


def _mask(op: dict[str, Any]) -> list[str]:
    mask = op.get("updateMask")
    if not isinstance(mask, str) or not mask.strip():
        raise OpError(
            "fieldMaskError", "FIELD_MASK_MISSING", "The field mask must be set for update.", ("update_mask",)
        )
    return [p.strip() for p in mask.split(",") if p.strip()]


def _int64(value: Any, path: tuple[str, ...]) -> int:
    if isinstance(value, bool):
        raise OpError("fieldError", "INVALID_VALUE", "Not an int64.", path)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise OpError("fieldError", "INVALID_VALUE", "Not an int64.", path)


def _one_of(op: dict[str, Any]) -> tuple[str, Any]:
    kinds = [k for k in ("create", "update", "remove") if k in op]
    if len(kinds) != 1:
        raise OpError("mutateError", "UNKNOWN", "Exactly one of create, update or remove must be set.")
    return kinds[0], op[kinds[0]]


# --- campaign budgets -------------------------------------------------------------------

_BUDGET_FIELDS = frozenset(
    {"resourceName", "name", "amountMicros", "deliveryMethod", "explicitlyShared", "period", "status", "id"}
)


def _amount(ctx: Ctx, value: Any, path: tuple[str, ...]) -> int:
    micros = _int64(value, path)
    if micros <= 0:
        raise OpError("rangeError", "TOO_LOW", "Too low.", path)
    if micros % ctx.account.step_micros:
        raise OpError(
            "campaignBudgetError",
            "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
            f"The budget amount must be a multiple of the minimum currency unit ({ctx.account.step_micros} micros).",
            path,
        )
    if micros > 10**15:
        raise OpError("rangeError", "TOO_HIGH", "Too high.", path)
    return micros


def _budget_name_taken(ctx: Ctx, name: str, except_id: str | None = None) -> bool:
    return any(
        b["name"] == name and b["status"] != "REMOVED" and bid != except_id for bid, b in ctx.objects.budgets.items()
    )


def budget_op(ctx: Ctx, op: dict[str, Any]) -> str:
    kind, body = _one_of(op)
    if kind == "create":
        _check_fields(body, _BUDGET_FIELDS)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", ("create", "name"))
        if _budget_name_taken(ctx, name):
            raise OpError("campaignBudgetError", "DUPLICATE_NAME", "Budget name already in use.", ("create", "name"))
        if "amountMicros" not in body:
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", ("create", "amount_micros"))
        micros = _amount(ctx, body["amountMicros"], ("create", "amount_micros"))
        method = body.get("deliveryMethod", "STANDARD")
        if method not in ("STANDARD", "ACCELERATED"):
            raise OpError("fieldError", "INVALID_VALUE", "Bad delivery method.", ("create", "delivery_method"))
        ident = ctx.new_id(body, "campaignBudgets")
        ctx.objects.budgets[ident] = {
            "id": ident,
            "name": name,
            "amountMicros": micros,
            "deliveryMethod": method,
            "explicitlyShared": bool(body.get("explicitlyShared", True)),
            "period": body.get("period", "DAILY"),
            "status": "ENABLED",
        }
        return ctx.account.rn("campaignBudgets", ident)
    if kind == "update":
        _check_fields(body, _BUDGET_FIELDS)
        ident = ctx.resolve(body.get("resourceName"), "campaignBudgets", ("update", "resource_name"))
        budget = ctx.objects.budgets.get(ident)
        if budget is None or budget["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("update", "resource_name"))
        for path in _mask(op):
            if path == "amountMicros":
                budget["amountMicros"] = _amount(ctx, body.get("amountMicros"), ("update", "amount_micros"))
            elif path == "name":
                if _budget_name_taken(ctx, str(body.get("name")), ident):
                    raise OpError(
                        "campaignBudgetError", "DUPLICATE_NAME", "Budget name already in use.", ("update", "name")
                    )
                budget["name"] = str(body.get("name"))
            else:
                raise OpError(
                    "fieldMaskError", "FIELD_NOT_FOUND", f"Field {path!r} cannot be updated.", ("update_mask",)
                )
        return ctx.account.rn("campaignBudgets", ident)
    ident = ctx.resolve(body, "campaignBudgets", ("remove",))
    budget = ctx.objects.budgets.get(ident)
    if budget is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("remove",))
    budget["status"] = "REMOVED"
    return ctx.account.rn("campaignBudgets", ident)


# --- campaigns ----------------------------------------------------------------------------

_BIDDING = ("manualCpc", "maximizeConversions", "maximizeConversionValue", "targetSpend", "targetCpa", "targetRoas")
_CAMPAIGN_FIELDS = frozenset(
    {
        "resourceName",
        "name",
        "status",
        "advertisingChannelType",
        "campaignBudget",
        "containsEuPoliticalAdvertising",
        "networkSettings",
        "startDate",
        "endDate",
        "id",
        *_BIDDING,
    }
)
_CHANNELS = frozenset({"SEARCH", "DISPLAY", "SHOPPING", "VIDEO", "PERFORMANCE_MAX", "DEMAND_GEN"})
_EU = frozenset({"CONTAINS_EU_POLITICAL_ADVERTISING", "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING"})


def campaign_op(ctx: Ctx, op: dict[str, Any]) -> str:
    kind, body = _one_of(op)
    if kind == "create":
        _check_fields(body, _CAMPAIGN_FIELDS)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", ("create", "name"))
        if any(c["name"] == name and c["status"] != "REMOVED" for c in ctx.objects.campaigns.values()):
            raise OpError(
                "campaignError",
                "DUPLICATE_CAMPAIGN_NAME",
                "A campaign with this name already exists.",
                ("create", "name"),
            )
        if body.get("advertisingChannelType") not in _CHANNELS:
            raise OpError(
                "fieldError", "REQUIRED", "The required field was not present.", ("create", "advertising_channel_type")
            )
        if body.get("containsEuPoliticalAdvertising") not in _EU:
            raise OpError(
                "fieldError",
                "REQUIRED",
                "The required field was not present.",
                ("create", "contains_eu_political_advertising"),
            )
        status = body.get("status", "ENABLED")  # Google's default is ENABLED: callers must say PAUSED
        if status not in STATUSES:
            raise OpError("fieldError", "INVALID_VALUE", "Bad status.", ("create", "status"))
        bidding = [b for b in _BIDDING if b in body]
        if len(bidding) != 1:
            raise OpError(
                "fieldError", "REQUIRED", "Exactly one bidding strategy must be set.", ("create", "bidding_strategy")
            )
        budget_id = ctx.resolve(body.get("campaignBudget"), "campaignBudgets", ("create", "campaign_budget"))
        budget = ctx.objects.budgets.get(budget_id)
        if budget is None or budget["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("create", "campaign_budget"))
        ident = ctx.new_id(body, "campaigns")
        ctx.objects.campaigns[ident] = {
            "id": ident,
            "name": name,
            "status": status,
            "advertisingChannelType": body["advertisingChannelType"],
            "budgetId": budget_id,
            "bidding": bidding[0],
            "containsEuPoliticalAdvertising": body["containsEuPoliticalAdvertising"],
        }
        return ctx.account.rn("campaigns", ident)
    if kind == "update":
        _check_fields(body, _CAMPAIGN_FIELDS)
        ident = ctx.resolve(body.get("resourceName"), "campaigns", ("update", "resource_name"))
        campaign = ctx.objects.campaigns.get(ident)
        if campaign is None or campaign["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("update", "resource_name"))
        for path in _mask(op):
            if path == "status":
                if body.get("status") not in STATUSES:
                    raise OpError("fieldError", "INVALID_VALUE", "Bad status.", ("update", "status"))
                campaign["status"] = body["status"]
            elif path == "name":
                campaign["name"] = str(body.get("name"))
            else:
                raise OpError(
                    "fieldMaskError", "FIELD_NOT_FOUND", f"Field {path!r} cannot be updated.", ("update_mask",)
                )
        return ctx.account.rn("campaigns", ident)
    ident = ctx.resolve(body, "campaigns", ("remove",))
    campaign = ctx.objects.campaigns.get(ident)
    if campaign is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("remove",))
    campaign["status"] = "REMOVED"
    return ctx.account.rn("campaigns", ident)


# --- ad groups ----------------------------------------------------------------------------

_AD_GROUP_FIELDS = frozenset({"resourceName", "name", "status", "campaign", "type", "cpcBidMicros", "id"})


def ad_group_op(ctx: Ctx, op: dict[str, Any]) -> str:
    kind, body = _one_of(op)
    if kind == "create":
        _check_fields(body, _AD_GROUP_FIELDS)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", ("create", "name"))
        campaign_id = ctx.resolve(body.get("campaign"), "campaigns", ("create", "campaign"))
        campaign = ctx.objects.campaigns.get(campaign_id)
        if campaign is None or campaign["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("create", "campaign"))
        if any(
            g["name"] == name and g["campaignId"] == campaign_id and g["status"] != "REMOVED"
            for g in ctx.objects.ad_groups.values()
        ):
            raise OpError("adGroupError", "DUPLICATE_ADGROUP_NAME", "Ad group name already exists.", ("create", "name"))
        status = body.get("status", "ENABLED")
        if status not in STATUSES:
            raise OpError("fieldError", "INVALID_VALUE", "Bad status.", ("create", "status"))
        cpc = _int64(body["cpcBidMicros"], ("create", "cpc_bid_micros")) if "cpcBidMicros" in body else None
        ident = ctx.new_id(body, "adGroups")
        ctx.objects.ad_groups[ident] = {
            "id": ident,
            "name": name,
            "status": status,
            "campaignId": campaign_id,
            "type": body.get("type", "SEARCH_STANDARD"),
            "cpcBidMicros": cpc,
        }
        return ctx.account.rn("adGroups", ident)
    if kind == "update":
        _check_fields(body, _AD_GROUP_FIELDS)
        ident = ctx.resolve(body.get("resourceName"), "adGroups", ("update", "resource_name"))
        group = ctx.objects.ad_groups.get(ident)
        if group is None or group["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("update", "resource_name"))
        for path in _mask(op):
            if path == "status" and body.get("status") in STATUSES:
                group["status"] = body["status"]
            else:
                raise OpError(
                    "fieldMaskError", "FIELD_NOT_FOUND", f"Field {path!r} cannot be updated.", ("update_mask",)
                )
        return ctx.account.rn("adGroups", ident)
    ident = ctx.resolve(body, "adGroups", ("remove",))
    group = ctx.objects.ad_groups.get(ident)
    if group is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("remove",))
    group["status"] = "REMOVED"
    return ctx.account.rn("adGroups", ident)


# --- ad group ads (responsive search ads) ------------------------------------------------

_AD_GROUP_AD_FIELDS = frozenset({"resourceName", "adGroup", "status", "ad"})
_AD_FIELDS = frozenset({"name", "finalUrls", "responsiveSearchAd"})


def _texts(ctx: Ctx, assets: Any, what: str, lo: int, hi: int, max_len: int) -> list[str]:
    path = ("create", "ad", "responsive_search_ad", what)
    if not isinstance(assets, list) or len(assets) < lo:
        raise OpError("adError", f"TOO_FEW_{what.upper()}", f"At least {lo} {what} are required.", path)
    if len(assets) > hi:
        raise OpError("adError", f"TOO_MANY_{what.upper()}", f"At most {hi} {what} are allowed.", path)
    texts = []
    for asset in assets:
        text = asset.get("text") if isinstance(asset, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", path)
        if len(text) > max_len:
            raise OpError("stringLengthError", "TOO_LONG", f"Too long (max {max_len}).", path)
        texts.append(text)
    return texts


def ad_group_ad_op(ctx: Ctx, op: dict[str, Any]) -> str:
    kind, body = _one_of(op)
    if kind == "create":
        _check_fields(body, _AD_GROUP_AD_FIELDS)
        ad_group_id = ctx.resolve(body.get("adGroup"), "adGroups", ("create", "ad_group"))
        group = ctx.objects.ad_groups.get(ad_group_id)
        if group is None or group["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("create", "ad_group"))
        status = body.get("status", "ENABLED")
        if status not in STATUSES:
            raise OpError("fieldError", "INVALID_VALUE", "Bad status.", ("create", "status"))
        ad = body.get("ad")
        if not isinstance(ad, dict):
            raise OpError("fieldError", "REQUIRED", "The required field was not present.", ("create", "ad"))
        _check_fields(ad, _AD_FIELDS)
        urls = ad.get("finalUrls")
        if (
            not isinstance(urls, list)
            or not urls
            or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls)
        ):
            raise OpError(
                "adError",
                "URL_INVALID_TOP_LEVEL_DOMAIN" if urls else "FINAL_URL_REQUIRED",
                "Bad final URL.",
                ("create", "ad", "final_urls"),
            )
        rsa = ad.get("responsiveSearchAd")
        if not isinstance(rsa, dict):
            raise OpError(
                "fieldError",
                "REQUIRED",
                "The required field was not present.",
                ("create", "ad", "responsive_search_ad"),
            )
        headlines = _texts(ctx, rsa.get("headlines"), "headlines", 3, 15, 30)
        descriptions = _texts(ctx, rsa.get("descriptions"), "descriptions", 2, 4, 90)
        ad_id = ctx.store.next_id()
        key = f"{ad_group_id}~{ad_id}"
        ctx.objects.ads[key] = {
            "adGroupId": ad_group_id,
            "adId": ad_id,
            "status": status,
            "name": ad.get("name"),
            "finalUrls": urls,
            "headlines": headlines,
            "descriptions": descriptions,
        }
        return ctx.account.rn("adGroupAds", key)
    if kind == "update":
        _check_fields(body, _AD_GROUP_AD_FIELDS)
        key = ctx.resolve(body.get("resourceName"), "adGroupAds", ("update", "resource_name"))
        ad_rec = ctx.objects.ads.get(key)
        if ad_rec is None or ad_rec["status"] == "REMOVED":
            raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("update", "resource_name"))
        for path in _mask(op):
            if path == "status" and body.get("status") in STATUSES:
                ad_rec["status"] = body["status"]
            else:
                raise OpError(
                    "fieldMaskError", "FIELD_NOT_FOUND", f"Field {path!r} cannot be updated.", ("update_mask",)
                )
        return ctx.account.rn("adGroupAds", key)
    key = ctx.resolve(body, "adGroupAds", ("remove",))
    ad_rec = ctx.objects.ads.get(key)
    if ad_rec is None:
        raise OpError("mutateError", "RESOURCE_NOT_FOUND", "Resource was not found.", ("remove",))
    ad_rec["status"] = "REMOVED"
    return ctx.account.rn("adGroupAds", key)


Handler = Callable[[Ctx, dict[str, Any]], str]
# REST collection -> (handler, operation key in googleAds:mutate, result key there)
SERVICES: dict[str, tuple[Handler, str, str]] = {
    "campaignBudgets": (budget_op, "campaignBudgetOperation", "campaignBudgetResult"),
    "campaigns": (campaign_op, "campaignOperation", "campaignResult"),
    "adGroups": (ad_group_op, "adGroupOperation", "adGroupResult"),
    "adGroupAds": (ad_group_ad_op, "adGroupAdOperation", "adGroupAdResult"),
}
BY_OPERATION = {op_key: (handler, result_key) for handler, op_key, result_key in SERVICES.values()}

__all__ = ["BY_OPERATION", "SERVICES", "Ctx", "OpError", "UnknownField"]
