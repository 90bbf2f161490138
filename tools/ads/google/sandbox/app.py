"""The sandbox HTTP app: Google Ads API REST paths and shapes over ``store``.

Google paths (``/v{N}/customers/{id}/...``): ``campaignBudgets|campaigns|adGroups|
adGroupAds:mutate``, ``googleAds:mutate`` (with temporary resource names),
``googleAds:searchStream`` and ``customers/{id}:uploadClickConversions``. Tridium's admin
API for tests lives under ``/sandbox/...`` and is not Google's."""

from __future__ import annotations

import json
import math
import re
import secrets
from datetime import date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..units import micros_per_minor
from . import gaql
from .mutate import BY_OPERATION, SERVICES, Ctx, OpError, UnknownField
from .store import Account, Delivery, Fault, Store

SANDBOX_NAME = "tridium-google-ads-sandbox"
_PATH = re.compile(
    r"^(?P<cid>\d+)(?:/(?P<collection>campaignBudgets|campaigns|adGroups|adGroupAds|googleAds):(?P<verb>mutate|searchStream)"
    r"|:(?P<upload>uploadClickConversions))$"
)
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})$")
_HTTP_STATUS = {3: (400, "INVALID_ARGUMENT"), 16: (401, "UNAUTHENTICATED"), 7: (403, "PERMISSION_DENIED")}


class ApiError(Exception):
    """A request-level failure: a ``google.rpc.Status`` with a ``GoogleAdsFailure``."""

    def __init__(self, http: int, status: str, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.http = http
        self.status = status
        self.message = message
        self.errors = errors or []


def _request_id() -> str:
    return secrets.token_urlsafe(16)


def failure(version: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@type": f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure",
        "errors": errors,
        "requestId": _request_id(),
    }


def error_item(kind: str, reason: str, message: str, path: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"errorCode": {kind: reason}, "message": message}
    if path:
        item["location"] = {"fieldPathElements": path}
    return item


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def _error_response(version: str, exc: ApiError, *, wrap: bool = False) -> Response:
    body: dict[str, Any] = {
        "error": {
            "code": exc.http,
            "message": exc.message,
            "status": exc.status,
            "details": [failure(version, exc.errors)] if exc.errors else [],
        }
    }
    return _json([body] if wrap else body, exc.http)


def _op_path(field: str, index: int, path: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"fieldName": field, "index": index}, *({"fieldName": p} for p in path)]


class GoogleAdsSandbox:
    def __init__(self, *, seed: int = 0, stream_batch_size: int = 10_000) -> None:
        self.store = Store(seed=seed)
        self.stream_batch_size = stream_batch_size

    # --- auth and faults ------------------------------------------------------------------

    def authorize(self, request: Request, cid: str) -> Account:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not token:
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                [
                    error_item(
                        "authenticationError", "OAUTH_TOKEN_HEADER_INVALID", "Oauth token HTTP header is malformed."
                    )
                ],
            )
        account = self.store.accounts.get(cid)
        if account is None:
            if any(a.access_token == token for a in self.store.accounts.values()):
                raise ApiError(
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission",
                    [
                        error_item(
                            "authorizationError",
                            "USER_PERMISSION_DENIED",
                            "User doesn't have permission to access customer.",
                        )
                    ],
                )
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                [error_item("authenticationError", "OAUTH_TOKEN_INVALID", "Oauth token is invalid.")],
            )
        if not secrets.compare_digest(token, account.access_token):
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                [error_item("authenticationError", "OAUTH_TOKEN_INVALID", "Oauth token is invalid.")],
            )
        return account

    def fault(self, operation: str) -> None:
        f = self.store.take_fault(operation)
        if f is None:
            return
        if f.kind == "rate_limit":
            item = error_item("quotaError", "RESOURCE_EXHAUSTED", "Too many requests. Retry in the time given.")
            item["details"] = {
                "quotaErrorDetails": {
                    "rateScope": "DEVELOPER",
                    "rateName": "Number of operations for basic access",
                    **({"retryDelay": _duration(f.retry_delay_s)} if f.retry_delay_s is not None else {}),
                }
            }
            raise ApiError(429, "RESOURCE_EXHAUSTED", "Too many requests. (SANDBOX fault)", [item])
        if f.kind == "internal":
            raise ApiError(
                500,
                "INTERNAL",
                "Internal error encountered. (SANDBOX fault)",
                [error_item("internalError", "INTERNAL_ERROR", "An internal error has occurred.")],
            )
        raise ApiError(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable. (SANDBOX fault)",
            [error_item("internalError", "TRANSIENT_ERROR", "The service is currently unavailable.")],
        )

    # --- Google routes ------------------------------------------------------------------

    async def google(self, request: Request) -> Response:
        version = request.path_params["version"]
        m = _PATH.match(request.path_params["rest"])
        if not re.fullmatch(r"v\d+", version) or m is None:
            return _json({"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}}, 404)
        verb = m.group("verb") or "uploadClickConversions"
        wrap = verb == "searchStream"
        try:
            account = self.authorize(request, m.group("cid"))
            self.fault("mutate" if verb == "mutate" else verb)
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
            if not isinstance(body, dict):
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            if verb == "searchStream":
                return self.search_stream(version, account, body)
            if verb == "uploadClickConversions":
                return self.upload_click_conversions(version, account, body)
            return self.mutate(version, account, m.group("collection"), body)
        except ApiError as exc:
            return _error_response(version, exc, wrap=wrap)
        except UnknownField as exc:
            return _json(
                {
                    "error": {
                        "code": 400,
                        "message": f'Invalid JSON payload received. Unknown name "{exc.name}": Cannot find field.',
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.BadRequest",
                                "fieldViolations": [{"field": exc.name, "description": f'Unknown name "{exc.name}"'}],
                            }
                        ],
                    }
                },
                400,
            )

    def mutate(self, version: str, account: Account, collection: str, body: dict[str, Any]) -> Response:
        partial = bool(body.get("partialFailure", False))
        validate_only = bool(body.get("validateOnly", False))
        ctx = Ctx(self.store, account, self.store.snapshot(account.objects))
        if collection == "googleAds":
            ops_field, ops = "mutate_operations", body.get("mutateOperations")
        else:
            ops_field, ops = "operations", body.get("operations")
        if not isinstance(ops, list) or not ops:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [error_item("mutateError", "EMPTY_MUTATE_REQUEST" if ops == [] else "UNKNOWN", "No operations.")],
            )
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, op in enumerate(ops):
            try:
                if collection == "googleAds":
                    keys = [k for k in op if k in BY_OPERATION] if isinstance(op, dict) else []
                    if len(keys) != 1:
                        raise OpError("mutateError", "UNKNOWN", "Unsupported mutate operation in this sandbox.")
                    handler, result_key = BY_OPERATION[keys[0]]
                    rn = handler(ctx, op[keys[0]])
                    results.append({result_key: {"resourceName": rn}})
                else:
                    if not isinstance(op, dict):
                        raise OpError("mutateError", "UNKNOWN", "Operation must be an object.")
                    rn = SERVICES[collection][0](ctx, op)
                    results.append({"resourceName": rn})
            except OpError as exc:
                errors.append(error_item(exc.kind, exc.reason, exc.message, _op_path(ops_field, index, exc.path)))
                results.append({})
        if errors and not partial:
            raise ApiError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", errors)
        if not validate_only:
            account.objects = ctx.objects
        key = "mutateOperationResponses" if collection == "googleAds" else "results"
        out: dict[str, Any] = {key: [] if validate_only else results}
        if errors:
            out["partialFailureError"] = {
                "code": 3,
                "message": f"Multiple errors in 'details'. First error: {errors[0]['message']}",
                "details": [failure(version, errors)],
            }
        return _json(out)

    # --- searchStream -------------------------------------------------------------------

    def search_stream(self, version: str, account: Account, body: dict[str, Any]) -> Response:
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [error_item("queryError", "EXPECTED_SELECT", "The query is empty.")],
            )
        try:
            query = gaql.parse(text)
        except gaql.QueryError as exc:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [error_item("queryError", exc.reason, exc.message)],
            ) from None
        rows = list(_rows(account, query))
        mask = ",".join(".".join(gaql.json_path(f)) for f in query.fields)
        request_id = _request_id()
        size = self.stream_batch_size
        batches = [
            {"results": rows[i : i + size], "fieldMask": mask, "requestId": request_id}
            for i in range(0, len(rows), size)
        ] or [{"fieldMask": mask, "requestId": request_id}]
        return _json(batches)

    # --- click conversions -------------------------------------------------------------

    def upload_click_conversions(self, version: str, account: Account, body: dict[str, Any]) -> Response:
        if body.get("partialFailure") is not True:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [
                    error_item(
                        "fieldError",
                        "REQUIRED",
                        "partial_failure must be true for this request.",
                        [{"fieldName": "partial_failure"}],
                    )
                ],
            )
        conversions = body.get("conversions")
        if not isinstance(conversions, list) or not conversions:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [
                    error_item(
                        "fieldError",
                        "REQUIRED_NONEMPTY_LIST",
                        "conversions is required.",
                        [{"fieldName": "conversions"}],
                    )
                ],
            )
        if len(conversions) > 2000:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [
                    error_item(
                        "conversionUploadError", "TOO_MANY_CONVERSIONS_IN_REQUEST", "Upload fewer than 2001 events."
                    )
                ],
            )
        validate_only = bool(body.get("validateOnly", False))
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen_orders: set[tuple[str, str]] = set()
        seen_clicks: set[tuple[str, str, str]] = set()
        accepted: list[dict[str, Any]] = []
        for i, conv in enumerate(conversions):
            try:
                record, order_key, click_key = self._check_conversion(account, conv)
                if order_key and order_key in seen_orders:
                    raise OpError(
                        "conversionUploadError",
                        "DUPLICATE_ORDER_ID",
                        "Duplicate order ID in the request.",
                        ("order_id",),
                    )
                if click_key and click_key in seen_clicks:
                    raise OpError(
                        "conversionUploadError",
                        "DUPLICATE_CLICK_CONVERSION_IN_REQUEST",
                        "Duplicate click conversion in the request.",
                        ("gclid",),
                    )
                if order_key and order_key in account.order_keys:
                    if not validate_only:
                        account.conversions[account.order_keys[order_key]]["duplicates"] += 1
                    raise OpError(
                        "conversionUploadError",
                        "ORDER_ID_ALREADY_IN_USE",
                        "The imported event includes an order ID that was previously recorded.",
                        ("order_id",),
                    )
                if click_key and click_key in account.click_keys:
                    if not validate_only:
                        account.conversions[account.click_keys[click_key]]["duplicates"] += 1
                    raise OpError(
                        "conversionUploadError",
                        "CLICK_CONVERSION_ALREADY_EXISTS",
                        "The imported event has the same click and conversion_date_time as an existing conversion.",
                        ("gclid",),
                    )
                if order_key:
                    seen_orders.add(order_key)
                if click_key:
                    seen_clicks.add(click_key)
                accepted.append({"record": record, "order_key": order_key, "click_key": click_key})
                result = {
                    k: conv[k]
                    for k in ("gclid", "gbraid", "wbraid", "conversionAction", "conversionDateTime")
                    if k in conv
                }
                if conv.get("userIdentifiers"):
                    result["userIdentifiers"] = conv["userIdentifiers"]
                results.append(result)
            except OpError as exc:
                errors.append(error_item(exc.kind, exc.reason, exc.message, _op_path("conversions", i, exc.path)))
                results.append({})
        if not validate_only:
            for a in accepted:
                account.conversions.append({**a["record"], "duplicates": 0})
                index = len(account.conversions) - 1
                if a["order_key"]:
                    account.order_keys[a["order_key"]] = index
                if a["click_key"]:
                    account.click_keys[a["click_key"]] = index
        out: dict[str, Any] = {"results": [] if validate_only else results, "jobId": str(self.store.next_id())}
        if errors:
            out["partialFailureError"] = {
                "code": 3,
                "message": f"Multiple errors in 'details'. First error: {errors[0]['message']}",
                "details": [failure(version, errors)],
            }
        return _json(out)

    @staticmethod
    def _check_conversion(
        account: Account, conv: Any
    ) -> tuple[dict[str, Any], tuple[str, str] | None, tuple[str, str, str] | None]:
        if not isinstance(conv, dict):
            raise OpError("fieldError", "INVALID_VALUE", "Conversion must be an object.")
        action = conv.get("conversionAction")
        m = re.fullmatch(r"customers/\d+/conversionActions/(\d+)", action) if isinstance(action, str) else None
        if m is None or m.group(1) not in account.conversion_action_ids:
            raise OpError(
                "conversionUploadError",
                "INVALID_CONVERSION_ACTION",
                "The conversion action is not valid for this customer.",
                ("conversion_action",),
            )
        when = conv.get("conversionDateTime")
        if not isinstance(when, str) or not _DATE_TIME.match(when):
            raise OpError(
                "dateError",
                "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET",
                "The date time must be 'yyyy-mm-dd hh:mm:ss+|-hh:mm'.",
                ("conversion_date_time",),
            )
        try:
            datetime.strptime(when[:19], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise OpError(
                "dateError", "INVALID_FIELD_VALUES_IN_DATE_TIME", "Invalid date time.", ("conversion_date_time",)
            ) from None
        click = next((conv[k] for k in ("gclid", "gbraid", "wbraid") if isinstance(conv.get(k), str) and conv[k]), None)
        identifiers = conv.get("userIdentifiers") or []
        if not isinstance(identifiers, list) or len(identifiers) > 5:
            raise OpError(
                "conversionUploadError",
                "TOO_MANY_USER_IDENTIFIERS",
                "At most 5 user identifiers.",
                ("user_identifiers",),
            )
        for ident in identifiers:
            values = [ident.get(k) for k in ("hashedEmail", "hashedPhoneNumber")] if isinstance(ident, dict) else []
            hashed = [v for v in values if v is not None]
            if len(hashed) != 1 or not isinstance(hashed[0], str) or not re.fullmatch(r"[0-9a-f]{64}", hashed[0]):
                raise OpError(
                    "fieldError",
                    "INVALID_VALUE",
                    "Only hashed_email or hashed_phone_number, SHA-256 hex, one per identifier.",
                    ("user_identifiers",),
                )
        if click is None and not identifiers:
            raise OpError("fieldError", "REQUIRED", "A click ID or user identifiers are required.", ("gclid",))
        value = conv.get("conversionValue")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or math.isnan(value)
        ):
            raise OpError("fieldError", "INVALID_VALUE", "Bad conversion value.", ("conversion_value",))
        currency = conv.get("currencyCode")
        if currency is not None and not (isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency)):
            raise OpError("fieldError", "INVALID_VALUE", "Bad currency code.", ("currency_code",))
        action_id = m.group(1)
        order = conv.get("orderId")
        order_key = (action_id, str(order)) if order else None
        gclid = conv.get("gclid")
        click_key = (action_id, str(gclid), when) if gclid else None
        record = {
            k: conv[k]
            for k in (
                "gclid",
                "gbraid",
                "wbraid",
                "conversionAction",
                "conversionDateTime",
                "conversionValue",
                "currencyCode",
                "orderId",
                "userIdentifiers",
            )
            if k in conv
        }
        return record, order_key, click_key

    # --- admin (Tridium's, not Google's) -------------------------------------------------

    async def admin(self, request: Request) -> Response:
        action = request.path_params["action"]
        try:
            if request.method == "GET":
                account = self._account(request.query_params.get("account"))
                if action == "objects":
                    return JSONResponse(_objects(account))
                if action == "conversions":
                    return JSONResponse(account.conversions)
                return JSONResponse({"error": "not found"}, 404)
            body = await request.json() if await request.body() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if action == "accounts":
                return JSONResponse(self._register(body), 201)
            if action == "delivery":
                return JSONResponse(self._delivery(body))
            if action == "simulate":
                return JSONResponse(self._simulate(body))
            if action == "faults":
                self.store.faults.append(
                    Fault(
                        operation=str(body.get("operation", "*")),
                        kind=str(body.get("kind", "rate_limit")),
                        remaining=int(body.get("count", 1)),
                        retry_delay_s=float(body["retry_delay_s"]) if body.get("retry_delay_s") is not None else None,
                    )
                )
                return JSONResponse({"faults": len(self.store.faults)})
            if action == "reset":
                self.store.reset()
                return JSONResponse({"reset": True})
            return JSONResponse({"error": "not found"}, 404)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad sandbox request: {exc}"}, 400)

    def _account(self, cid: str | None) -> Account:
        account = self.store.accounts.get(str(cid or "").replace("-", ""))
        if account is None:
            raise KeyError(f"no sandbox account {cid!r}")
        return account

    def _register(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = str(body["customer_id"]).replace("-", "")
        if not cid.isdigit():
            raise ValueError("customer_id must be digits")
        actions = tuple(str(a) for a in body.get("conversion_action_ids") or ["7001"])
        self.store.accounts[cid] = Account(
            customer_id=cid,
            access_token=str(body["access_token"]),
            developer_token=body.get("developer_token"),
            currency=str(body.get("currency", "BRL")),
            time_zone=str(body.get("time_zone", "America/Sao_Paulo")),
            conversion_action_ids=actions,
        )
        return {"customer_id": cid, "conversion_action_ids": list(actions), "simulated": True}

    def _delivery(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self._account(body["account"])
        level = str(body["level"])
        if level not in ("campaign", "adset", "ad"):
            raise ValueError("level must be campaign, adset or ad")
        ident = str(body["id"])
        day = date.fromisoformat(str(body["day"]))
        row = Delivery(
            impressions=int(body["impressions"]),
            clicks=int(body["clicks"]),
            spend_minor=int(body["spend_minor"]),
            conversions=float(body.get("conversions", 0)),
            conversion_value_minor=int(body.get("conversion_value_minor", 0)),
        )
        if min(row.impressions, row.clicks, row.spend_minor, row.conversion_value_minor) < 0 or row.conversions < 0:
            raise ValueError("metrics must be >= 0")
        account.delivery[(level, ident, day)] = row
        return {"level": level, "id": ident, "day": day.isoformat(), "simulated": True}

    def _simulate(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deterministic delivery for every ENABLED campaign with an ENABLED budget:
        u = sha256(seed:customer:campaign:day) in [0,1]; spend = floor(budget * (0.6 + 0.4u));
        impressions = spend_minor // 2 (a R$20 CPM); clicks = impressions * (2 + 3u) // 100;
        conversions = clicks // 20. PAUSED/REMOVED campaigns deliver nothing."""
        account = self._account(body["account"])
        day = date.fromisoformat(str(body["day"]))
        step = micros_per_minor(account.currency)
        out = []
        for cid, campaign in account.objects.campaigns.items():
            budget = account.objects.budgets.get(campaign["budgetId"])
            if campaign["status"] != "ENABLED" or budget is None or budget["status"] != "ENABLED":
                continue
            u = self.store.unit_interval(account.customer_id, cid, day.isoformat())
            budget_minor = budget["amountMicros"] // step
            spend = math.floor(budget_minor * (0.6 + 0.4 * u))
            impressions = spend // 2
            clicks = impressions * int(2 + 3 * u) // 100
            row = Delivery(impressions=impressions, clicks=clicks, spend_minor=spend, conversions=float(clicks // 20))
            account.delivery[("campaign", cid, day)] = row
            out.append({"campaign_id": cid, "spend_minor": spend, "impressions": impressions, "clicks": clicks})
        return {"day": day.isoformat(), "delivered": out, "simulated": True}


def _duration(seconds: float | None) -> str:
    value = f"{seconds:.3f}".rstrip("0").rstrip(".") if seconds is not None else "0"
    return f"{value}s"


def _objects(account: Account) -> list[dict[str, Any]]:
    step = account.step_micros
    out: list[dict[str, Any]] = []
    objs = account.objects
    for bid, b in objs.budgets.items():
        out.append(
            {
                "level": "budget",
                "id": bid,
                "resource_name": account.rn("campaignBudgets", bid),
                "name": b["name"],
                "status": b["status"],
                "amount_micros": b["amountMicros"],
                "amount_minor": b["amountMicros"] // step,
            }
        )
    for cid, c in objs.campaigns.items():
        budget = objs.budgets.get(c["budgetId"], {})
        out.append(
            {
                "level": "campaign",
                "id": cid,
                "resource_name": account.rn("campaigns", cid),
                "name": c["name"],
                "status": c["status"],
                "budget_id": c["budgetId"],
                "bidding": c["bidding"],
                "contains_eu_political_advertising": c["containsEuPoliticalAdvertising"],
                "daily_budget_micros": budget.get("amountMicros"),
                "daily_budget_minor": budget["amountMicros"] // step if budget else None,
            }
        )
    for gid, g in objs.ad_groups.items():
        out.append(
            {
                "level": "adset",
                "id": gid,
                "resource_name": account.rn("adGroups", gid),
                "name": g["name"],
                "status": g["status"],
                "parent": g["campaignId"],
            }
        )
    for key, a in objs.ads.items():
        out.append(
            {
                "level": "ad",
                "id": key,
                "ad_id": a["adId"],
                "resource_name": account.rn("adGroupAds", key),
                "name": a["name"],
                "status": a["status"],
                "parent": a["adGroupId"],
                "headlines": a["headlines"],
                "descriptions": a["descriptions"],
                "final_urls": a["finalUrls"],
            }
        )
    return out


# --- searchStream rows ---------------------------------------------------------------------


def _set(row: dict[str, Any], field: str, value: Any) -> None:
    path = gaql.json_path(field)
    node = row
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _rows(account: Account, q: gaql.Query) -> Any:
    objs = account.objects
    subjects: list[dict[str, Any]] = []
    if q.resource == "campaign":
        for cid, c in objs.campaigns.items():
            subjects.append(
                {"campaign": (cid, c), "budget": objs.budgets.get(c["budgetId"]), "level": ("campaign", cid)}
            )
    elif q.resource == "ad_group":
        for gid, g in objs.ad_groups.items():
            c = objs.campaigns[g["campaignId"]]
            subjects.append({"campaign": (g["campaignId"], c), "ad_group": (gid, g), "level": ("adset", gid)})
    else:
        for key, a in objs.ads.items():
            g = objs.ad_groups[a["adGroupId"]]
            c = objs.campaigns[g["campaignId"]]
            subjects.append(
                {
                    "campaign": (g["campaignId"], c),
                    "ad_group": (a["adGroupId"], g),
                    "ad": (key, a),
                    "level": ("ad", key),
                }
            )
    days = account.days()
    if q.date_from is not None and q.date_to is not None:
        days = [d for d in days if q.date_from <= d <= q.date_to]
    for s in subjects:
        attrs = _attributes(account, s)
        if not all(str(attrs.get(name)) == str(value) for name, value in q.equals):
            continue
        level, ident = s["level"]

        def total(day: date, level: str = level, ident: str = ident) -> Delivery:
            if level == "campaign":
                return account.campaign_total(ident, day)
            if level == "adset":
                return account.ad_group_total(ident, day)
            return account.ad_total(ident, day)

        if q.by_date:
            for day in days:
                d = total(day)
                if d.empty:
                    continue  # Google omits rows without metrics for a date segment
                yield _row(account, q, s, attrs, d, day)
        else:
            agg = Delivery()
            for day in days:
                agg = agg.add(total(day))
            yield _row(account, q, s, attrs, agg, None)


def _attributes(account: Account, s: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cid, c = s["campaign"]
    out.update(
        {
            "campaign.id": cid,
            "campaign.name": c["name"],
            "campaign.status": c["status"],
            "campaign.resource_name": account.rn("campaigns", cid),
            "campaign.campaign_budget": account.rn("campaignBudgets", c["budgetId"]),
            "campaign.advertising_channel_type": c["advertisingChannelType"],
        }
    )
    budget = s.get("budget")
    if budget is not None:
        out.update(
            {
                "campaign_budget.id": budget["id"],
                "campaign_budget.amount_micros": str(budget["amountMicros"]),
                "campaign_budget.resource_name": account.rn("campaignBudgets", budget["id"]),
            }
        )
    if "ad_group" in s:
        gid, g = s["ad_group"]
        out.update(
            {
                "ad_group.id": gid,
                "ad_group.name": g["name"],
                "ad_group.status": g["status"],
                "ad_group.resource_name": account.rn("adGroups", gid),
                "ad_group.campaign": account.rn("campaigns", cid),
            }
        )
    if "ad" in s:
        key, a = s["ad"]
        out.update(
            {
                "ad_group_ad.ad.id": a["adId"],
                "ad_group_ad.ad.name": a["name"],
                "ad_group_ad.status": a["status"],
                "ad_group_ad.resource_name": account.rn("adGroupAds", key),
                "ad_group_ad.ad_group": account.rn("adGroups", a["adGroupId"]),
                "ad_group_ad.ad.final_urls": a["finalUrls"],
            }
        )
    return out


def _row(
    account: Account, q: gaql.Query, s: dict[str, Any], attrs: dict[str, Any], d: Delivery, day: date | None
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    step = account.step_micros
    metric_values = {
        "metrics.impressions": str(d.impressions),
        "metrics.clicks": str(d.clicks),
        "metrics.cost_micros": str(d.spend_minor * step),
        "metrics.conversions": d.conversions,
        "metrics.conversions_value": d.conversion_value_minor / 10**account.exponent,
    }
    # resourceName of the FROM resource (and of each resource a field is selected from)
    resources = {f.rsplit(".", 1)[0] if not f.startswith("ad_group_ad.ad.") else "ad_group_ad" for f in q.fields}
    resources.add(q.resource)
    for res in resources & {"campaign", "ad_group", "ad_group_ad", "campaign_budget"}:
        if f"{res}.resource_name" in attrs:
            _set(row, f"{res}.resource_name", attrs[f"{res}.resource_name"])
    for f in q.fields:
        if f in metric_values:
            _set(row, f, metric_values[f])
        elif f == "segments.date":
            _set(row, f, day.isoformat() if day else None)
        else:
            _set(row, f, attrs.get(f))
    return row


class SandboxHeader:
    """Every response says it is simulated (``X-Sandbox``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-sandbox", SANDBOX_NAME.encode())]}
            await send(message)

        await self.app(scope, receive, send_marked if scope["type"] == "http" else send)


def create_app(*, seed: int = 0, stream_batch_size: int = 10_000) -> Starlette:
    sandbox = GoogleAdsSandbox(seed=seed, stream_batch_size=stream_batch_size)
    app = Starlette(
        middleware=[Middleware(SandboxHeader)],
        routes=[
            Route("/sandbox/{action}", sandbox.admin, methods=["GET", "POST"]),
            Route("/{version}/customers/{rest:path}", sandbox.google, methods=["POST"]),
        ],
    )
    app.state.sandbox = sandbox
    return app


__all__ = ["SANDBOX_NAME", "ApiError", "GoogleAdsSandbox", "create_app"]
