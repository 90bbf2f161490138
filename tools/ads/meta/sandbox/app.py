"""The Meta Marketing API + Conversions API sandbox app (simulated, NOT Meta).

See the package docstring (``tools.ads.meta.sandbox``) for what was verified and assumed.
State lives in memory in ``SandboxState``; ``create_app`` wires the Graph paths and the
Tridium-only ``/sandbox/*`` admin API onto it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from ..money import budget_from_meta, minor_to_str

SANDBOX_NAME = "meta-ads-sandbox"
DEDUPE_WINDOW_S = 48 * 3600
MAX_EVENTS_PER_REQUEST = 1000
DEFAULT_PAGE_LIMIT = 25

OBJECTIVES = frozenset(
    {
        "OUTCOME_APP_PROMOTION",
        "OUTCOME_AWARENESS",
        "OUTCOME_ENGAGEMENT",
        "OUTCOME_LEADS",
        "OUTCOME_SALES",
        "OUTCOME_TRAFFIC",
    }
)
SPECIAL_AD_CATEGORIES = frozenset(
    {
        "NONE",
        "EMPLOYMENT",
        "HOUSING",
        "CREDIT",
        "ISSUES_ELECTIONS_POLITICS",
        "ONLINE_GAMBLING_AND_GAMING",
        "FINANCIAL_PRODUCTS_SERVICES",
    }
)
STATUSES = frozenset({"ACTIVE", "PAUSED", "ARCHIVED", "DELETED"})
BILLING_EVENTS = frozenset({"IMPRESSIONS", "LINK_CLICKS", "THRUPLAY", "APP_INSTALLS"})
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
# CAPI for Business Messaging accepts a narrower set of event names (LeadSubmitted, not Lead).
BUSINESS_MESSAGING_EVENTS = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "QualifiedLead",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "RatingProvided",
        "ReviewProvided",
    }
)
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_FBC = re.compile(r"^fb\.[0-9]+\.[0-9]{10,13}\.\S+$")
OPERATIONS = (
    "read",
    "create_campaign",
    "create_adset",
    "create_creative",
    "create_ad",
    "update",
    "insights",
    "events",
)


@dataclass
class Account:
    ad_account_id: str  # digits, without "act_"
    access_token: str
    currency: str = "BRL"
    timezone: str = "America/Sao_Paulo"
    pixel_id: str | None = None
    business_id: str = "1000000000000001"
    page_id: str | None = None
    waba_id: str | None = None
    name: str = "Sandbox ad account"


@dataclass
class AdsObject:
    id: str
    level: str  # campaign | adset | creative | ad
    account: str
    name: str
    status: str = "PAUSED"
    daily_budget: int | None = None
    objective: str | None = None
    campaign_id: str | None = None
    adset_id: str | None = None
    creative_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    created_time: float = field(default_factory=time.time)

    @property
    def parent_id(self) -> str | None:
        if self.level == "adset":
            return self.campaign_id
        if self.level == "ad":
            return self.adset_id
        return None


@dataclass
class Delivery:
    impressions: int = 0
    clicks: int = 0
    spend_minor: int = 0
    conversions: int = 0
    conversion_value_minor: int = 0

    def add(self, other: Delivery) -> None:
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.spend_minor += other.spend_minor
        self.conversions += other.conversions
        self.conversion_value_minor += other.conversion_value_minor


@dataclass
class Fault:
    operation: str  # one of OPERATIONS or "*"
    kind: str  # rate_limit | server_error | after_commit_error | auth
    remaining: int
    code: int | None = None
    subcode: int | None = None
    regain_minutes: int = 5
    account: str | None = None


@dataclass
class ReceivedEvent:
    pixel_id: str
    account: str
    event: dict[str, Any]
    received_at: float
    test_event_code: str | None
    duplicate: bool


@dataclass
class SandboxState:
    accounts: dict[str, Account] = field(default_factory=dict)
    objects: dict[str, AdsObject] = field(default_factory=dict)
    delivery: dict[tuple[str, str], Delivery] = field(default_factory=dict)  # (object id, YYYY-MM-DD)
    events: list[ReceivedEvent] = field(default_factory=list)
    first_seen: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (pixel, event_name, event_id)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    clock_offset_s: float = 0.0

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    def reset(self) -> None:
        self.accounts.clear()
        self.objects.clear()
        self.delivery.clear()
        self.events.clear()
        self.first_seen.clear()
        self.faults.clear()
        self.requests.clear()
        self.clock_offset_s = 0.0


class GraphError(Exception):
    """A Graph API error answer (the sandbox raises it; the handler renders Meta's error object)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        type_: str = "OAuthException",
        subcode: int | None = None,
        user_msg: str | None = None,
        transient: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.subcode = subcode
        self.user_msg = user_msg
        self.transient = transient
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        err: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "is_transient": self.transient,
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.user_msg:
            err["error_user_title"] = "Sandbox validation"
            err["error_user_msg"] = self.user_msg
        return JSONResponse({"error": err}, status_code=self.status, headers=self.headers)


def invalid(message: str, *, subcode: int | None = None, user_msg: str | None = None) -> GraphError:
    return GraphError(400, 100, f"Invalid parameter: {message}", subcode=subcode, user_msg=user_msg or message)


def _new_id(prefix: str = "2385") -> str:
    return prefix + "".join(str(secrets.randbelow(10)) for _ in range(13))


def _decode(value: Any) -> Any:
    """Graph form fields carry JSON for arrays/objects (``targeting``, ``time_range``…)."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            raise invalid(f"malformed JSON: {value[:80]}") from None
    return value


async def read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode(v) for k, v in request.query_params.items()}
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise invalid("the body is not JSON") from None
            if not isinstance(body, dict):
                raise invalid("the body must be a JSON object")
            params.update(body)
        elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            async with request.form() as form:
                for k, v in form.multi_items():
                    if isinstance(v, str):
                        params[k] = _decode(v)
    return params


def _token(request: Request, params: dict[str, Any]) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    token = params.get("access_token")
    return str(token) if token else None


def _usage_headers(
    state: SandboxState, account: Account, *, insights: bool = False, full: bool = False
) -> dict[str, str]:
    pct = 100 if full else min(99, len(state.requests) % 100)
    buc = {
        account.ad_account_id: [
            {
                "type": "ads_insights" if insights else "ads_management",
                "call_count": pct,
                "total_cputime": max(1, pct // 2),
                "total_time": max(1, pct // 2),
                "estimated_time_to_regain_access": 0,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    headers = {
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
        "X-Ad-Account-Usage": json.dumps(
            {"acc_id_util_pct": float(pct), "reset_time_duration": 0, "ads_api_access_tier": "standard_access"},
            separators=(",", ":"),
        ),
    }
    if insights:
        headers["x-fb-ads-insights-throttle"] = json.dumps(
            {"app_id_util_pct": float(pct), "acc_id_util_pct": float(pct), "ads_api_access_tier": "standard_access"},
            separators=(",", ":"),
        )
    return headers


class _Marker(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Sandbox"] = SANDBOX_NAME
        return response


class Sandbox:
    """The simulated platform: accounts, objects, delivery, received conversions, faults."""

    def __init__(self, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()

    # -- lookups ------------------------------------------------------------------------

    def account(self, raw_id: str) -> Account:
        acc = self.state.accounts.get(raw_id.removeprefix("act_"))
        if acc is None:
            raise GraphError(
                400,
                100,
                f"Unsupported request - Object with ID 'act_{raw_id.removeprefix('act_')}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation",
                type_="GraphMethodException",
                subcode=33,
            )
        return acc

    def obj(self, object_id: str, *, level: str | None = None) -> AdsObject:
        o = self.state.objects.get(object_id)
        if o is None or (level is not None and o.level != level):
            raise GraphError(
                400,
                100,
                f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation",
                type_="GraphMethodException",
                subcode=33,
            )
        return o

    def authorise(self, request: Request, params: dict[str, Any], account: Account) -> None:
        token = _token(request, params)
        if token is None:
            raise GraphError(400, 104, "An access token is required to request this resource.")
        if not secrets.compare_digest(token.encode(), account.access_token.encode()):
            raise GraphError(
                400,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"'},
            )

    def record(self, request: Request, operation: str, account: Account | None) -> None:
        self.state.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "operation": operation,
                "account": account.ad_account_id if account else None,
                "at": self.state.now(),
            }
        )

    def maybe_fault(self, operation: str, account: Account) -> Fault | None:
        """Pop the next fault for ``operation``; raise it unless it fires after the commit."""
        for i, f in enumerate(self.state.faults):
            if f.operation not in (operation, "*") or (f.account and f.account != account.ad_account_id):
                continue
            f.remaining -= 1
            if f.remaining <= 0:
                self.state.faults.pop(i)
            if f.kind == "after_commit_error":
                return f
            raise self.fault_error(f, operation, account)
        return None

    def fault_error(self, f: Fault, operation: str, account: Account) -> GraphError:
        if f.kind == "rate_limit":
            code = f.code or (80000 if operation == "insights" else 80004)
            headers = _usage_headers(self.state, account, insights=operation == "insights", full=True)
            buc = json.loads(headers["X-Business-Use-Case-Usage"])
            buc[account.ad_account_id][0]["estimated_time_to_regain_access"] = f.regain_minutes
            headers["X-Business-Use-Case-Usage"] = json.dumps(buc, separators=(",", ":"))
            message = {
                4: "Application request limit reached",
                17: "User request limit reached",
                32: "Page request limit reached",
                613: "Calls to this api have exceeded the rate limit.",
            }.get(code, "There have been too many calls to this ad-account. Wait a bit and try again.")
            return GraphError(400, code, message, subcode=f.subcode, transient=True, headers=headers)
        if f.kind == "auth":
            return GraphError(
                400, f.code or 190, "Error validating access token: Session has expired", subcode=f.subcode or 463
            )
        # server_error / after_commit_error
        return GraphError(
            500, f.code or 2, "An unexpected error has occurred. Please retry your request later.", transient=True
        )

    # -- delivery and insights ----------------------------------------------------------

    def descendants_or_self(self, o: AdsObject) -> set[str]:
        ids = {o.id}
        if o.level == "campaign":
            ids |= {x.id for x in self.state.objects.values() if x.campaign_id == o.id}
        elif o.level == "adset":
            ids |= {x.id for x in self.state.objects.values() if x.level == "ad" and x.adset_id == o.id}
        return ids

    def aggregate(self, o: AdsObject, day: str) -> Delivery | None:
        total: Delivery | None = None
        for oid in self.descendants_or_self(o):
            d = self.state.delivery.get((oid, day))
            if d is not None:
                total = total or Delivery()
                total.add(d)
        return total

    def simulate(self, account: Account, day: str) -> list[dict[str, Any]]:
        """Deterministic delivery for every ACTIVE campaign on ``day`` (see the package doc)."""
        out = []
        for camp in sorted(self.state.objects.values(), key=lambda x: x.id):
            if camp.level != "campaign" or camp.account != account.ad_account_id or camp.status != "ACTIVE":
                continue
            adsets = [a for a in self.state.objects.values() if a.level == "adset" and a.campaign_id == camp.id]
            budget = budget_from_meta(camp.daily_budget, account.currency) or sum(
                budget_from_meta(a.daily_budget, account.currency) or 0 for a in adsets if a.status == "ACTIVE"
            )
            if not budget:
                continue
            seed = hashlib.sha256(f"{camp.id}:{day}".encode()).digest()
            fraction = 0.6 + 0.4 * (int.from_bytes(seed[:4], "big") / 2**32)
            spend = int(budget * fraction)
            impressions = spend // 2  # CPM = 20 currency units at offset 100
            clicks = impressions * 15 // 1000  # CTR 1.5 %
            conversions = clicks // 10  # 10 % of clicks convert
            ads = [
                ad
                for ad in sorted(self.state.objects.values(), key=lambda x: x.id)
                if ad.level == "ad"
                and ad.campaign_id == camp.id
                and ad.status == "ACTIVE"
                and self.state.objects[ad.adset_id or ""].status == "ACTIVE"
            ]
            targets = ads or [camp]
            n = len(targets)
            for i, target in enumerate(targets):
                share = Delivery(
                    impressions=impressions // n + (impressions % n if i == 0 else 0),
                    clicks=clicks // n + (clicks % n if i == 0 else 0),
                    spend_minor=spend // n + (spend % n if i == 0 else 0),
                    conversions=conversions // n + (conversions % n if i == 0 else 0),
                )
                self.state.delivery[(target.id, day)] = share
                out.append({"level": target.level, "id": target.id, "day": day, **share.__dict__})
        return out

    def insight_row(self, account: Account, o: AdsObject, level: str, day: str, d: Delivery) -> dict[str, Any]:
        cur = account.currency
        camp = self.state.objects.get(o.campaign_id or "") if o.level != "campaign" else o
        action_type = "purchase" if camp is not None and camp.objective == "OUTCOME_SALES" else "lead"
        row: dict[str, Any] = {
            "account_id": account.ad_account_id,
            "account_currency": cur,
            "campaign_id": o.id if o.level == "campaign" else o.campaign_id,
            "campaign_name": camp.name if camp else None,
            "impressions": str(d.impressions),
            "clicks": str(d.clicks),
            "spend": minor_to_str(d.spend_minor, cur),
            "ctr": f"{(d.clicks / d.impressions * 100) if d.impressions else 0:.6f}",
            "cpm": minor_to_str(d.spend_minor * 1000 // d.impressions, cur) if d.impressions else "0",
            "cpc": minor_to_str(d.spend_minor // d.clicks, cur) if d.clicks else "0",
            "date_start": day,
            "date_stop": day,
        }
        if level in ("adset", "ad"):
            row["adset_id"] = o.id if o.level == "adset" else o.adset_id
        if level == "ad":
            row["ad_id"] = o.id
            row["ad_name"] = o.name
        if d.conversions:
            row["actions"] = [{"action_type": action_type, "value": str(d.conversions)}]
            row["cost_per_action_type"] = [
                {"action_type": action_type, "value": minor_to_str(d.spend_minor // d.conversions, cur)}
            ]
        if d.conversion_value_minor:
            row["action_values"] = [{"action_type": action_type, "value": minor_to_str(d.conversion_value_minor, cur)}]
        return row

    def insights(
        self, account: Account, level: str, since: date, until: date, scope: AdsObject | None
    ) -> list[dict[str, Any]]:
        days = [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]
        candidates = sorted(
            (
                o
                for o in self.state.objects.values()
                if o.level == level
                and o.account == account.ad_account_id
                and (
                    scope is None or o.id in self.descendants_or_self(scope) or scope.id in (o.campaign_id, o.adset_id)
                )
            ),
            key=lambda x: x.id,
        )
        rows = []
        for day in days:
            for o in candidates:
                d = self.aggregate(o, day)
                if d is not None and (d.impressions or d.spend_minor or d.clicks):
                    rows.append(self.insight_row(account, o, level, day, d))
        return rows

    # -- conversions --------------------------------------------------------------------

    def validate_event(self, i: int, ev: Any) -> dict[str, Any]:
        where = f"data[{i}]"
        if not isinstance(ev, dict):
            raise invalid(f"{where} must be an object")
        name, etime, source = ev.get("event_name"), ev.get("event_time"), ev.get("action_source")
        if not isinstance(name, str) or not name:
            raise invalid(f"{where}.event_name is required")
        if not isinstance(etime, int) or isinstance(etime, bool):
            raise invalid(f"{where}.event_time must be a unix timestamp in seconds (integer)")
        now = self.state.now()
        if etime > now + 60:
            raise invalid(f"{where}.event_time is in the future", subcode=2804004)
        if etime < now - 7 * 86400:
            raise invalid(f"{where}.event_time is more than 7 days in the past", subcode=2804003)
        if source not in ACTION_SOURCES:
            raise invalid(f"{where}.action_source must be one of {sorted(ACTION_SOURCES)}")
        user = ev.get("user_data")
        if not isinstance(user, dict) or not user:
            raise invalid(f"{where}.user_data is required")
        for key in ("em", "ph", "external_id"):
            values = user.get(key)
            if values is None:
                continue
            values = values if isinstance(values, list) else [values]
            for v in values:
                if key != "external_id" and (not isinstance(v, str) or not _HEX64.match(v)):
                    raise invalid(
                        f"{where}.user_data.{key} must be SHA-256 hashed (64 lower-case hex characters)",
                        subcode=2804020,
                    )
        if user.get("fbc") is not None and not _FBC.match(str(user["fbc"])):
            raise invalid(f"{where}.user_data.fbc must look like fb.1.<creation time ms>.<fbclid>")
        if source == "business_messaging":
            if ev.get("messaging_channel") not in ("whatsapp", "messenger", "instagram"):
                raise invalid(f"{where}.messaging_channel is required for business_messaging events")
            if ev["messaging_channel"] == "whatsapp" and not (
                user.get("ctwa_clid") and user.get("whatsapp_business_account_id")
            ):
                raise invalid(f"{where}.user_data needs ctwa_clid and whatsapp_business_account_id for whatsapp")
            if name not in BUSINESS_MESSAGING_EVENTS:
                raise invalid(f"{where}: Messaging Event Invalid Event Type", subcode=2804066)
        elif not any(user.get(k) for k in ("em", "ph", "external_id", "fbc", "fbp", "client_ip_address")):
            raise invalid(f"{where}.user_data has no customer information parameter")
        custom = ev.get("custom_data")
        if name == "Purchase" and (not isinstance(custom, dict) or "value" not in custom or not custom.get("currency")):
            raise invalid(f"{where}.custom_data.value and currency are required for Purchase")
        if isinstance(custom, dict) and "value" in custom and not isinstance(custom["value"], int | float):
            raise invalid(f"{where}.custom_data.value must be a number")
        return ev

    def receive_events(self, account: Account, pixel_id: str, data: list[Any], test_code: str | None) -> int:
        checked = [self.validate_event(i, ev) for i, ev in enumerate(data)]  # all or nothing
        now = self.state.now()
        for ev in checked:
            duplicate = False
            if ev.get("event_id"):
                key = (pixel_id, str(ev["event_name"]), str(ev["event_id"]))
                first = self.state.first_seen.get(key)
                if first is not None and now - first <= DEDUPE_WINDOW_S:
                    duplicate = True
                else:
                    self.state.first_seen[key] = now
            self.state.events.append(ReceivedEvent(pixel_id, account.ad_account_id, ev, now, test_code, duplicate))
        return len(checked)


def _object_view(o: AdsObject, fields: list[str] | None) -> dict[str, Any]:
    full: dict[str, Any] = {
        "id": o.id,
        "name": o.name,
        "account_id": o.account,
        "created_time": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(o.created_time)),
    }
    full["status"] = o.status
    if o.level != "creative":
        full["effective_status"] = o.status
        full["configured_status"] = o.status
    if o.daily_budget is not None:
        full["daily_budget"] = str(o.daily_budget)  # Graph returns budgets as numeric strings
    if o.objective:
        full["objective"] = o.objective
    if o.campaign_id:
        full["campaign_id"] = o.campaign_id
    if o.adset_id:
        full["adset_id"] = o.adset_id
    if o.creative_id:
        full["creative"] = {"id": o.creative_id}
    full.update(o.fields)
    if not fields:
        return {"id": o.id, "name": o.name}  # Graph's default fields when none are asked
    return {k: v for k, v in full.items() if k in fields or k == "id"}


def _page(request: Request, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Cursor paging as Graph does it: ``paging.cursors.{before,after}`` and ``paging.next``."""
    try:
        limit = max(1, min(500, int(params.get("limit") or DEFAULT_PAGE_LIMIT)))
        after = params.get("after")
        start = int(base64.urlsafe_b64decode(str(after).encode()).decode()) if after else 0
    except (ValueError, TypeError):
        raise invalid("bad limit or after cursor") from None
    chunk = items[start : start + limit]
    body: dict[str, Any] = {"data": chunk}
    if items:
        cursors = {
            "before": base64.urlsafe_b64encode(str(start).encode()).decode(),
            "after": base64.urlsafe_b64encode(str(start + len(chunk)).encode()).decode(),
        }
        body["paging"] = {"cursors": cursors}
        if start + limit < len(items):
            body["paging"]["next"] = str(request.url.include_query_params(after=cursors["after"], limit=limit))
    return body


def _fields(params: dict[str, Any]) -> list[str] | None:
    raw = params.get("fields")
    if not raw:
        return None
    return [f.strip() for f in str(raw).split(",") if f.strip()]


def _execution(params: dict[str, Any]) -> bool:
    opts = params.get("execution_options") or []
    if isinstance(opts, str):
        opts = [opts]
    if not isinstance(opts, list) or any(o not in ("validate_only", "include_recommendations") for o in opts):
        raise invalid("execution_options must be a list of validate_only / include_recommendations")
    return "validate_only" in opts


def _budget(params: dict[str, Any], key: str = "daily_budget") -> int | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(f"{key} must be an integer in the currency's minor unit (offset)") from None
    if value <= 0:
        raise invalid(f"{key} must be greater than zero")
    return value


def _status(params: dict[str, Any], default: str = "PAUSED") -> str:
    status = str(params.get("status") or default)
    if status not in STATUSES:
        raise invalid(f"status must be one of {sorted(STATUSES)}")
    return status


def create_app(state: SandboxState | None = None) -> FastAPI:
    sandbox = Sandbox(state)
    st = sandbox.state
    app = FastAPI(title="Meta Marketing API + Conversions API SANDBOX (simulated, not Meta)")
    app.add_middleware(_Marker)
    app.state.sandbox = sandbox

    @app.exception_handler(GraphError)
    async def graph_error(request: Request, exc: GraphError) -> JSONResponse:
        return exc.response()

    # -- Tridium-only admin API -----------------------------------------------------------

    @app.post("/sandbox/accounts")
    async def add_account(request: Request) -> dict[str, Any]:
        data = await request.json()
        acc = Account(
            ad_account_id=str(data["ad_account_id"]).removeprefix("act_"),
            access_token=str(data["access_token"]),
            currency=str(data.get("currency") or "BRL").upper(),
            timezone=str(data.get("timezone") or "America/Sao_Paulo"),
            pixel_id=str(data["pixel_id"]) if data.get("pixel_id") else None,
            business_id=str(data.get("business_id") or "1000000000000001"),
            page_id=str(data["page_id"]) if data.get("page_id") else None,
            waba_id=str(data["waba_id"]) if data.get("waba_id") else None,
        )
        st.accounts[acc.ad_account_id] = acc
        return {"ad_account_id": acc.ad_account_id, "pixel_id": acc.pixel_id, "currency": acc.currency}

    @app.get("/sandbox/objects")
    async def list_objects(account: str) -> dict[str, Any]:
        acc = sandbox.account(account)
        return {
            "simulated": True,
            "currency": acc.currency,
            "objects": [
                {
                    "id": o.id,
                    "level": o.level,
                    "name": o.name,
                    "status": o.status,
                    "objective": o.objective,
                    "campaign_id": o.campaign_id,
                    "adset_id": o.adset_id,
                    "creative_id": o.creative_id,
                    "daily_budget": o.daily_budget,  # Meta's unit: the currency offset (centavos for BRL)
                    "daily_budget_minor": budget_from_meta(o.daily_budget, acc.currency),
                    "fields": o.fields,
                }
                for o in sorted(st.objects.values(), key=lambda x: x.created_time)
                if o.account == acc.ad_account_id
            ],
        }

    @app.post("/sandbox/delivery")
    async def set_delivery(request: Request) -> dict[str, Any]:
        data = await request.json()
        acc = sandbox.account(str(data["account"]))
        o = sandbox.obj(str(data["id"]), level=str(data.get("level") or "ad"))
        if o.account != acc.ad_account_id:
            raise invalid("that object belongs to another account")
        day = date.fromisoformat(str(data["day"])).isoformat()
        d = Delivery(
            impressions=int(data.get("impressions", 0)),
            clicks=int(data.get("clicks", 0)),
            spend_minor=int(data.get("spend_minor", 0)),
            conversions=int(data.get("conversions", 0)),
            conversion_value_minor=int(data.get("conversion_value_minor", 0)),
        )
        st.delivery[(o.id, day)] = d
        return {"simulated": True, "id": o.id, "level": o.level, "day": day, **d.__dict__}

    @app.post("/sandbox/simulate")
    async def simulate(request: Request) -> dict[str, Any]:
        data = await request.json()
        acc = sandbox.account(str(data["account"]))
        day = date.fromisoformat(str(data["day"])).isoformat()
        return {"simulated": True, "day": day, "rows": sandbox.simulate(acc, day)}

    @app.get("/sandbox/conversions")
    async def conversions(account: str) -> dict[str, Any]:
        acc = sandbox.account(account)
        counts: dict[tuple[str, str], int] = {}
        for e in st.events:
            if e.account == acc.ad_account_id and e.event.get("event_id"):
                k = (str(e.event["event_name"]), str(e.event["event_id"]))
                counts[k] = counts.get(k, 0) + 1
        return {
            "simulated": True,
            "dedupe_window_hours": DEDUPE_WINDOW_S // 3600,
            "events": [
                {
                    "pixel_id": e.pixel_id,
                    "received_at": e.received_at,
                    "test_event_code": e.test_event_code,
                    "duplicate": e.duplicate,
                    "duplicates": counts.get((str(e.event.get("event_name")), str(e.event.get("event_id"))), 1) - 1,
                    "event": e.event,
                }
                for e in st.events
                if e.account == acc.ad_account_id
            ],
            "unique_events": sum(1 for e in st.events if e.account == acc.ad_account_id and not e.duplicate),
            "duplicates": sum(1 for e in st.events if e.account == acc.ad_account_id and e.duplicate),
        }

    @app.post("/sandbox/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        """``{"operation": "read"|"create_campaign"|…|"*", "kind": "rate_limit"|"server_error"|
        "after_commit_error"|"auth", "count": N, "code"?, "subcode"?, "regain_minutes"?, "account"?}``"""
        data = await request.json()
        operation = str(data.get("operation") or "*")
        kind = str(data.get("kind") or "server_error")
        if operation not in (*OPERATIONS, "*") or kind not in (
            "rate_limit",
            "server_error",
            "after_commit_error",
            "auth",
        ):
            raise invalid("unknown operation or kind")
        st.faults.append(
            Fault(
                operation=operation,
                kind=kind,
                remaining=int(data.get("count", 1)),
                code=int(data["code"]) if data.get("code") is not None else None,
                subcode=int(data["subcode"]) if data.get("subcode") is not None else None,
                regain_minutes=int(data.get("regain_minutes", 5)),
                account=str(data["account"]).removeprefix("act_") if data.get("account") else None,
            )
        )
        return {"queued": len(st.faults)}

    @app.get("/sandbox/requests")
    async def requests_log(account: str | None = None) -> dict[str, Any]:
        acct = account.removeprefix("act_") if account else None
        return {"requests": [r for r in st.requests if acct is None or r["account"] == acct]}

    @app.post("/sandbox/clock")
    async def clock(request: Request) -> dict[str, Any]:
        data = await request.json()
        st.clock_offset_s += float(data.get("advance_s", 0))
        return {"clock_offset_s": st.clock_offset_s}

    @app.post("/sandbox/reset")
    async def reset() -> dict[str, Any]:
        st.reset()
        return {"reset": True}

    # -- Marketing API: ad account edges ------------------------------------------------

    @app.get("/{version}/act_{account_id}/{edge}")
    async def read_edge(version: str, account_id: str, edge: str, request: Request) -> JSONResponse:
        params = await read_params(request)
        account = sandbox.account(account_id)
        sandbox.authorise(request, params, account)
        operation = "insights" if edge == "insights" else "read"
        sandbox.record(request, operation, account)
        sandbox.maybe_fault(operation, account)
        if edge == "insights":
            return await _insights(request, params, account, None)
        level = {"campaigns": "campaign", "adsets": "adset", "ads": "ad", "adcreatives": "creative"}.get(edge)
        if level is None:
            raise invalid(f"unknown edge {edge}")
        items = [
            _object_view(o, _fields(params))
            for o in sorted(st.objects.values(), key=lambda x: x.created_time)
            if o.account == account.ad_account_id and o.level == level and o.status != "DELETED"
        ]
        return JSONResponse(_page(request, items, params), headers=_usage_headers(st, account))

    @app.get("/{version}/act_{account_id}")
    async def read_account(version: str, account_id: str, request: Request) -> JSONResponse:
        params = await read_params(request)
        account = sandbox.account(account_id)
        sandbox.authorise(request, params, account)
        sandbox.record(request, "read", account)
        sandbox.maybe_fault("read", account)
        return JSONResponse(
            {
                "id": f"act_{account.ad_account_id}",
                "account_id": account.ad_account_id,
                "name": account.name,
                "currency": account.currency,
                "timezone_name": account.timezone,
                "account_status": 1,
            },
            headers=_usage_headers(st, account),
        )

    @app.post("/{version}/act_{account_id}/{edge}")
    async def create(version: str, account_id: str, edge: str, request: Request) -> JSONResponse:
        params = await read_params(request)
        account = sandbox.account(account_id)
        sandbox.authorise(request, params, account)
        operation = {
            "campaigns": "create_campaign",
            "adsets": "create_adset",
            "adcreatives": "create_creative",
            "ads": "create_ad",
        }.get(edge)
        if operation is None:
            raise invalid(f"unknown edge {edge}")
        sandbox.record(request, operation, account)
        late_fault = sandbox.maybe_fault(operation, account)
        validate_only = _execution(params)
        name = str(params.get("name") or "").strip()
        if not name:
            raise invalid("name is required")
        o = AdsObject(id=_new_id(), level=operation.removeprefix("create_"), account=account.ad_account_id, name=name)
        if edge == "campaigns":
            o.objective = str(params.get("objective") or "")
            if o.objective not in OBJECTIVES:
                raise invalid(
                    f"objective must be one of {sorted(OBJECTIVES)} (legacy objectives are no longer accepted)",
                    subcode=2490487,
                )
            cats = params.get("special_ad_categories")
            if not isinstance(cats, list) or any(c not in SPECIAL_AD_CATEGORIES for c in cats):
                raise invalid('special_ad_categories is required (a list, [] or ["NONE"] when none apply)')
            o.status = _status(params)
            o.daily_budget = _budget(params)
            o.fields = {"special_ad_categories": cats, "buying_type": str(params.get("buying_type") or "AUCTION")}
            if params.get("bid_strategy"):
                o.fields["bid_strategy"] = str(params["bid_strategy"])
        elif edge == "adsets":
            camp = sandbox.obj(str(params.get("campaign_id") or ""), level="campaign")
            if camp.account != account.ad_account_id:
                raise invalid("campaign_id belongs to another ad account")
            o.campaign_id = camp.id
            o.status = _status(params)
            o.daily_budget = _budget(params)
            if o.daily_budget is not None and camp.daily_budget is not None:
                raise invalid("an ad set of a campaign with a campaign budget cannot have its own daily_budget")
            if o.daily_budget is None and camp.daily_budget is None:
                raise invalid("daily_budget is required when the campaign has no campaign budget")
            billing = params.get("billing_event")
            if billing not in BILLING_EVENTS:
                raise invalid(f"billing_event must be one of {sorted(BILLING_EVENTS)}")
            if not params.get("optimization_goal"):
                raise invalid("optimization_goal is required")
            targeting = params.get("targeting")
            if not isinstance(targeting, dict) or not isinstance(targeting.get("geo_locations"), dict):
                raise invalid("targeting.geo_locations is required")
            o.fields = {
                "billing_event": billing,
                "optimization_goal": params["optimization_goal"],
                "targeting": targeting,
            }
            for key in ("promoted_object", "destination_type", "bid_strategy"):
                if params.get(key) is not None:
                    o.fields[key] = params[key]
        elif edge == "adcreatives":
            spec = params.get("object_story_spec")
            if not isinstance(spec, dict) or not spec.get("page_id") or not isinstance(spec.get("link_data"), dict):
                raise invalid("object_story_spec with page_id and link_data is required")
            if not spec["link_data"].get("link"):
                raise invalid("object_story_spec.link_data.link is required")
            o.status = "ACTIVE"  # a creative's status is ACTIVE once created; delivery is the ad's
            o.fields = {"object_story_spec": spec}
            if params.get("url_tags"):
                o.fields["url_tags"] = str(params["url_tags"])
        else:  # ads
            adset = sandbox.obj(str(params.get("adset_id") or ""), level="adset")
            o.adset_id, o.campaign_id = adset.id, adset.campaign_id
            o.status = _status(params)
            creative = params.get("creative")
            if not isinstance(creative, dict):
                raise invalid('creative is required: {"creative_id": …}')
            if creative.get("creative_id"):
                o.creative_id = sandbox.obj(str(creative["creative_id"]), level="creative").id
            elif not validate_only or not isinstance(creative.get("object_story_spec"), dict):
                raise invalid("creative.creative_id is required")
        if validate_only:
            return JSONResponse({"success": True}, headers=_usage_headers(st, account))
        st.objects[o.id] = o
        if late_fault is not None:  # the write happened; the answer is lost
            raise sandbox.fault_error(late_fault, operation, account)
        return JSONResponse({"id": o.id}, headers=_usage_headers(st, account))

    # -- Marketing API: single objects ---------------------------------------------------

    async def _object_for(request: Request, object_id: str) -> tuple[dict[str, Any], Account, AdsObject | None]:
        params = await read_params(request)
        o = st.objects.get(object_id)
        if o is not None:
            account = sandbox.account(o.account)
            sandbox.authorise(request, params, account)
            return params, account, o
        # A pixel id (CAPI) or an unknown object.
        for acc in st.accounts.values():
            if acc.pixel_id == object_id:
                sandbox.authorise(request, params, acc)
                return params, acc, None
        sandbox.obj(object_id)  # raises the Graph "does not exist" error
        raise AssertionError("unreachable")

    @app.get("/{version}/{object_id}/insights")
    async def object_insights(version: str, object_id: str, request: Request) -> JSONResponse:
        params, account, o = await _object_for(request, object_id)
        sandbox.record(request, "insights", account)
        sandbox.maybe_fault("insights", account)
        return await _insights(request, params, account, o)

    @app.get("/{version}/{object_id}")
    async def read_object(version: str, object_id: str, request: Request) -> JSONResponse:
        params, account, o = await _object_for(request, object_id)
        sandbox.record(request, "read", account)
        sandbox.maybe_fault("read", account)
        if o is None:
            return JSONResponse({"id": object_id, "name": "Sandbox pixel"})
        return JSONResponse(_object_view(o, _fields(params)), headers=_usage_headers(st, account))

    @app.post("/{version}/{object_id}")
    async def update_object(version: str, object_id: str, request: Request) -> JSONResponse:
        params, account, o = await _object_for(request, object_id)
        if o is None:
            raise invalid("a pixel cannot be updated here")
        sandbox.record(request, "update", account)
        late_fault = sandbox.maybe_fault("update", account)
        validate_only = _execution(params)
        changes: dict[str, Any] = {}
        if "status" in params:
            if o.level == "creative":
                raise invalid("an ad creative has no status to change here")
            changes["status"] = _status(params)
        if "daily_budget" in params:
            budget = _budget(params)
            if o.level not in ("campaign", "adset"):
                raise invalid("only campaigns and ad sets have a daily_budget")
            if o.daily_budget is None:
                raise invalid("this object has no daily budget (the budget lives on its campaign or ad sets)")
            changes["daily_budget"] = budget
        if "name" in params:
            changes["name"] = str(params["name"])
        if not changes:
            raise invalid("nothing to update")
        if o.status == "DELETED":
            raise invalid("a deleted object cannot be changed", subcode=1487056)
        if not validate_only:
            for k, v in changes.items():
                setattr(o, k, v)
        if late_fault is not None and not validate_only:
            raise sandbox.fault_error(late_fault, "update", account)
        return JSONResponse({"success": True}, headers=_usage_headers(st, account))

    async def _insights(
        request: Request, params: dict[str, Any], account: Account, scope: AdsObject | None
    ) -> JSONResponse:
        level = str(params.get("level") or (scope.level if scope else "account"))
        if level not in ("campaign", "adset", "ad"):
            raise invalid("level must be campaign, adset or ad in this sandbox")
        time_range = params.get("time_range")
        if not isinstance(time_range, dict):
            raise invalid('time_range={"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"} is required here')
        try:
            since, until = date.fromisoformat(time_range["since"]), date.fromisoformat(time_range["until"])
        except (KeyError, TypeError, ValueError):
            raise invalid("time_range.since/until must be YYYY-MM-DD") from None
        if until < since or (until - since).days > 400:
            raise invalid("time_range must be ordered and at most about 37 months")
        if str(params.get("time_increment") or "1") != "1":
            raise invalid("this sandbox supports time_increment=1 (daily rows) only")
        rows = sandbox.insights(account, level, since, until, scope)
        fields = _fields(params)
        if fields:
            keep = set(fields) | {"date_start", "date_stop"}
            rows = [{k: v for k, v in r.items() if k in keep} for r in rows]
        return JSONResponse(_page(request, rows, params), headers=_usage_headers(st, account, insights=True))

    # -- Conversions API ------------------------------------------------------------------

    @app.post("/{version}/{pixel_id}/events")
    async def events(version: str, pixel_id: str, request: Request) -> JSONResponse:
        params, account, o = await _object_for(request, pixel_id)
        if o is not None or account.pixel_id != pixel_id:
            raise invalid("events are posted to a pixel (dataset) id")
        sandbox.record(request, "events", account)
        sandbox.maybe_fault("events", account)
        data = params.get("data")
        if not isinstance(data, list) or not data:
            raise invalid("data must be a non-empty JSON array of events")
        if len(data) > MAX_EVENTS_PER_REQUEST:
            raise invalid(f"at most {MAX_EVENTS_PER_REQUEST} events per request")
        received = sandbox.receive_events(account, pixel_id, data, params.get("test_event_code"))
        return JSONResponse({"events_received": received, "messages": [], "fbtrace_id": secrets.token_urlsafe(12)})

    return app


__all__ = [
    "DEDUPE_WINDOW_S",
    "SANDBOX_NAME",
    "Account",
    "AdsObject",
    "GraphError",
    "Sandbox",
    "SandboxState",
    "create_app",
]
