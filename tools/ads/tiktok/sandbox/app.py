"""The sandbox HTTP app: TikTok Marketing API v1.3 paths and envelopes over ``Store``, plus
the simulated admin API under ``/sandbox/...`` (Tridium's, not TikTok's)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import protocol as p
from .store import LEVELS, Account, ApiError, Fault, Metrics, Obj, SandboxLevel, Store

logger = logging.getLogger("tridium.sandbox.tiktok")
SANDBOX_NAME = "tridium-tiktok-sandbox"
DEFAULT_ACCESS_TOKEN = "tt-sandbox-token"

OBJECTIVES = {
    "REACH",
    "TRAFFIC",
    "VIDEO_VIEWS",
    "LEAD_GENERATION",
    "ENGAGEMENT",
    "APP_PROMOTION",
    "WEB_CONVERSIONS",
    "PRODUCT_SALES",
}
BUDGET_MODES = {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_INFINITE"}
EVENT_SOURCES = {"web", "app", "offline", "crm"}
REPORT_METRICS = {
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "ctr",
    "cpc",
    "cpm",
    "cost_per_conversion",
    "campaign_id",
    "campaign_name",
    "adgroup_id",
    "adgroup_name",
    "ad_name",
}
DATA_LEVELS: dict[str, SandboxLevel] = {
    "AUCTION_CAMPAIGN": "campaign",
    "AUCTION_ADGROUP": "adgroup",
    "AUCTION_AD": "ad",
}
MAX_REPORT_DAYS = 30  # with stat_time_day as a dimension (assumed limit)
AD_TEXT_MAX = 100

Handler = Callable[[Request, Store, dict[str, Any], str | None], Awaitable[dict[str, Any]]]


def _envelope(code: int, message: str, data: Any) -> dict[str, Any]:
    request_id = datetime.now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(8).upper()
    return {"code": code, "message": message, "request_id": request_id, "data": data}


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, default=_default),
        status_code=status,
        media_type="application/json",
        headers={"X-Sandbox": SANDBOX_NAME},
    )


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _param_error(message: str) -> ApiError:
    return ApiError(p.INVALID_PARAMETERS, message)


def _require(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value in ("", []):
        raise _param_error(f"{name}: Missing data for required field.")
    return value


def _amount(account: Account, value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _param_error(f"{name}: Not a valid number.") from None
    if not amount.is_finite() or amount <= 0:
        raise _param_error(f"{name}: must be greater than 0.")
    if -amount.as_tuple().exponent > p.exponent(account.currency):  # type: ignore[operator]
        raise _param_error(f"{name}: {account.currency} has {p.exponent(account.currency)} decimal places.")
    return amount


def _check_budget(account: Account, obj_level: SandboxLevel, mode: str, budget: Decimal | None) -> None:
    if mode == "BUDGET_MODE_INFINITE":
        return
    if budget is None:
        raise _param_error("budget: required when budget_mode is BUDGET_MODE_DAY or BUDGET_MODE_TOTAL.")
    minimum = account.min_campaign_budget if obj_level == "campaign" else account.min_adgroup_budget
    if budget < minimum:
        raise _param_error(f"Budget must be at least {minimum} {account.currency} at the {obj_level} level.")


def _ts(value: float) -> str:
    return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def render(obj: Obj) -> dict[str, Any]:
    status_prefix = {"campaign": "CAMPAIGN_STATUS", "adgroup": "ADGROUP_STATUS", "ad": "AD_STATUS"}[obj.level]
    secondary = f"{status_prefix}_DELETE" if obj.deleted else f"{status_prefix}_{obj.operation_status}"
    out: dict[str, Any] = {
        "advertiser_id": obj.advertiser_id,
        f"{obj.level}_id": obj.id,
        f"{obj.level}_name": obj.name,
        "operation_status": obj.operation_status,
        "secondary_status": secondary,
        "create_time": _ts(obj.created_at),
        "modify_time": _ts(obj.modified_at),
        **obj.fields,
    }
    if obj.level != "ad":
        out["budget_mode"] = obj.budget_mode
        out["budget"] = obj.budget if obj.budget is not None else 0.0
    return out


def _page(query: dict[str, Any], items: list[Any]) -> tuple[list[Any], dict[str, int]]:
    try:
        page = int(query.get("page") or 1)
        page_size = int(query.get("page_size") or 10)
    except (TypeError, ValueError):
        raise _param_error("page/page_size: Not a valid integer.") from None
    if page < 1 or not 1 <= page_size <= 1000:
        raise _param_error("page must be >= 1 and page_size within 1-1000.")
    total = len(items)
    total_page = max(1, -(-total // page_size))
    chunk = items[(page - 1) * page_size : page * page_size]
    return chunk, {"page": page, "page_size": page_size, "total_number": total, "total_page": total_page}


# --- campaigns, ad groups, ads -----------------------------------------------------------------


def _get_handler(level: SandboxLevel) -> Handler:
    async def handler(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        account = store.authorise(token, body.get("advertiser_id"))
        filtering = body.get("filtering") or {}
        if not isinstance(filtering, dict):
            raise _param_error("filtering: Not a valid JSON object.")
        items = [o for o in store.of(account.advertiser_id, level) if not o.deleted]
        for key, attr in (("campaign_ids", "campaign_id"), ("adgroup_ids", "adgroup_id"), ("ad_ids", "ad_id")):
            wanted = filtering.get(key)
            if wanted:
                ids = {str(x) for x in wanted}
                items = [o for o in items if str(render(o).get(attr)) in ids]
        items.sort(key=lambda o: o.created_at, reverse=True)
        chunk, page_info = _page(body, items)
        return {"list": [render(o) for o in chunk], "page_info": page_info}

    return handler


def _op_status(account: Account, body: dict[str, Any], *, honoured: bool) -> str:
    value = body.get("operation_status")
    if value is None:
        return "ENABLE"  # documented default
    if value not in ("ENABLE", "DISABLE"):
        raise _param_error("operation_status: Must be one of: ENABLE, DISABLE.")
    return str(value) if honoured else "ENABLE"


async def campaign_create(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    account = store.authorise(token, body.get("advertiser_id"))
    name = str(_require(body, "campaign_name"))
    if len(name) > 512:
        raise _param_error("campaign_name: Length must be within 512 characters.")
    objective = _require(body, "objective_type")
    if objective not in OBJECTIVES:
        raise _param_error(f"objective_type: {objective} is not a supported objective.")
    mode = str(body.get("budget_mode") or "BUDGET_MODE_INFINITE")
    if mode not in BUDGET_MODES:
        raise _param_error("budget_mode: Must be one of: " + ", ".join(sorted(BUDGET_MODES)) + ".")
    budget = _amount(account, body["budget"], "budget") if body.get("budget") is not None else None
    _check_budget(account, "campaign", mode, budget)
    # operation_status at create is allow-list only; otherwise ignored without an error.
    status = _op_status(account, body, honoured=account.operation_status_allowlisted)
    obj = Obj(
        "campaign",
        store.new_id(),
        account.advertiser_id,
        name,
        None,
        status,
        budget_mode=mode,
        budget=budget,
        fields={"objective_type": objective, "budget_optimize_on": bool(body.get("budget_optimize_on", False))},
    )
    store.objects[obj.id] = obj
    return {"campaign_id": obj.id}


async def adgroup_create(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    account = store.authorise(token, body.get("advertiser_id"))
    campaign = store.get(account, "campaign", _require(body, "campaign_id"))
    name = str(_require(body, "adgroup_name"))
    location_ids = _require(body, "location_ids")
    if not isinstance(location_ids, list) or not all(str(x).isdigit() for x in location_ids):
        raise _param_error("location_ids: a list of location ids.")
    placement = body.get("placement_type") or "PLACEMENT_TYPE_AUTOMATIC"
    if placement not in ("PLACEMENT_TYPE_AUTOMATIC", "PLACEMENT_TYPE_NORMAL"):
        raise _param_error("placement_type: Must be one of: PLACEMENT_TYPE_AUTOMATIC, PLACEMENT_TYPE_NORMAL.")
    if placement == "PLACEMENT_TYPE_NORMAL" and not body.get("placements"):
        raise _param_error("placements: required when placement_type is PLACEMENT_TYPE_NORMAL.")
    schedule_type = _require(body, "schedule_type")
    if schedule_type not in ("SCHEDULE_FROM_NOW", "SCHEDULE_START_END"):
        raise _param_error("schedule_type: Must be one of: SCHEDULE_FROM_NOW, SCHEDULE_START_END.")
    for key in ("schedule_start_time",) + (("schedule_end_time",) if schedule_type == "SCHEDULE_START_END" else ()):
        try:
            datetime.strptime(str(_require(body, key)), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise _param_error(f"{key}: format YYYY-MM-DD HH:MM:SS.") from None
    _require(body, "billing_event")
    _require(body, "optimization_goal")
    mode = str(_require(body, "budget_mode"))
    if mode not in ("BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL"):
        raise _param_error("budget_mode: Must be one of: BUDGET_MODE_DAY, BUDGET_MODE_TOTAL.")
    budget = _amount(account, _require(body, "budget"), "budget")
    _check_budget(account, "adgroup", mode, budget)
    status = _op_status(account, body, honoured=True)
    keep = (
        "placement_type",
        "location_ids",
        "age_groups",
        "schedule_type",
        "schedule_start_time",
        "optimization_goal",
        "billing_event",
        "bid_type",
        "pixel_id",
    )
    fields = {k: body[k] for k in keep if k in body}
    obj = Obj(
        "adgroup",
        store.new_id(),
        account.advertiser_id,
        name,
        campaign.id,
        status,
        budget_mode=mode,
        budget=budget,
        fields={"campaign_id": campaign.id, **fields},
    )
    store.objects[obj.id] = obj
    return {"adgroup_id": obj.id}


async def ad_create(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    account = store.authorise(token, body.get("advertiser_id"))
    adgroup = store.get(account, "adgroup", _require(body, "adgroup_id"))
    creatives = _require(body, "creatives")
    if not isinstance(creatives, list) or not all(isinstance(c, dict) for c in creatives):
        raise _param_error("creatives: a list of creative objects.")
    made: list[Obj] = []
    for creative in creatives:
        name = str(_require(creative, "ad_name"))
        text = str(_require(creative, "ad_text"))
        if len(text) > AD_TEXT_MAX:
            raise _param_error(f"ad_text: Length must be within {AD_TEXT_MAX} characters.")
        url = str(_require(creative, "landing_page_url"))
        if not url.startswith(("http://", "https://")):
            raise _param_error("landing_page_url: Not a valid URL.")
        _require(creative, "identity_id")
        _require(creative, "identity_type")
        _require(creative, "call_to_action")
        if not creative.get("video_id") and not creative.get("image_ids"):
            raise _param_error("video_id or image_ids: one of them is required.")
        status = _op_status(account, creative, honoured=True)
        keep = (
            "ad_text",
            "call_to_action",
            "landing_page_url",
            "identity_id",
            "identity_type",
            "ad_format",
            "video_id",
            "image_ids",
        )
        fields = {k: creative[k] for k in keep if k in creative}
        made.append(
            Obj(
                "ad",
                store.new_id(),
                account.advertiser_id,
                name,
                adgroup.id,
                status,
                fields={"campaign_id": adgroup.parent_id, "adgroup_id": adgroup.id, **fields},
            )
        )
    for obj in made:
        store.objects[obj.id] = obj
    return {"ad_ids": [o.id for o in made]}


def _status_handler(level: SandboxLevel) -> Handler:
    async def handler(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        account = store.authorise(token, body.get("advertiser_id"))
        ids = _require(body, f"{level}_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            raise _param_error(f"{level}_ids: a list of 1-20 ids.")
        op = body.get("operation_status")
        if op not in ("ENABLE", "DISABLE", "DELETE"):
            raise _param_error("operation_status: Must be one of: ENABLE, DISABLE, DELETE.")
        objs = [store.get(account, level, i) for i in ids]  # a deleted object cannot be modified
        for obj in objs:
            if op == "DELETE":
                obj.deleted = True
                obj.operation_status = "DISABLE"
            else:
                obj.operation_status = str(op)
            obj.modified_at = datetime.now().timestamp()
        return {f"{level}_ids": [o.id for o in objs], "status": op}

    return handler


def _update_handler(level: SandboxLevel) -> Handler:
    async def handler(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        account = store.authorise(token, body.get("advertiser_id"))
        obj = store.get(account, level, _require(body, f"{level}_id"))
        name = body.get(f"{level}_name")
        if "budget_mode" in body and body["budget_mode"] != obj.budget_mode:
            raise _param_error("budget_mode: cannot be changed after creation.")
        budget = _amount(account, body["budget"], "budget") if body.get("budget") is not None else None
        if budget is not None:
            _check_budget(account, level, str(obj.budget_mode), budget)
            obj.budget = budget
        if name:
            obj.name = str(name)
        obj.modified_at = datetime.now().timestamp()
        return render(obj)

    return handler


# --- reporting ---------------------------------------------------------------------------------


def _money(minor: int, currency: str) -> str:
    return f"{p.to_units(minor, currency):.{p.exponent(currency)}f}"


def _metric(name: str, m: Metrics, obj: Obj, store: Store, currency: str) -> str:
    def ratio(num: int, den: int, scale: int = 1) -> str:
        return f"{num * scale / den:.2f}" if den else "0.00"

    spend_units = float(p.to_units(m.spend_minor, currency))
    values: dict[str, Callable[[], str]] = {
        "spend": lambda: _money(m.spend_minor, currency),
        "impressions": lambda: str(m.impressions),
        "clicks": lambda: str(m.clicks),
        "conversion": lambda: str(m.conversions),
        "ctr": lambda: ratio(m.clicks, m.impressions, 100),
        "cpc": lambda: f"{spend_units / m.clicks:.2f}" if m.clicks else "0.00",
        "cpm": lambda: f"{spend_units * 1000 / m.impressions:.2f}" if m.impressions else "0.00",
        "cost_per_conversion": lambda: f"{spend_units / m.conversions:.2f}" if m.conversions else "0.00",
        "campaign_id": lambda: str(obj.campaign_id or ""),
        "campaign_name": lambda: store.objects[str(obj.campaign_id)].name if obj.campaign_id in store.objects else "",
        "adgroup_id": lambda: str(obj.fields.get("adgroup_id") or (obj.id if obj.level == "adgroup" else "")),
        "adgroup_name": lambda: obj.name if obj.level == "adgroup" else "",
        "ad_name": lambda: obj.name if obj.level == "ad" else "",
    }
    return values[name]()


def _date(body: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(str(_require(body, name)))
    except ValueError:
        raise _param_error(f"{name}: format YYYY-MM-DD.") from None


async def report_get(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    account = store.authorise(token, body.get("advertiser_id"))
    if _require(body, "report_type") != "BASIC":
        raise _param_error("report_type: only BASIC is simulated.")
    data_level = _require(body, "data_level")
    if data_level not in DATA_LEVELS:
        raise _param_error("data_level: Must be one of: " + ", ".join(DATA_LEVELS) + ".")
    level = DATA_LEVELS[data_level]
    dims = _require(body, "dimensions")
    if not isinstance(dims, list) or sorted(map(str, dims)) != sorted([f"{level}_id", "stat_time_day"]):
        raise _param_error(f"dimensions: {level}_id and stat_time_day are the grouping simulated at {data_level}.")
    metrics = body.get("metrics") or ["spend", "impressions"]
    if not isinstance(metrics, list) or any(m not in REPORT_METRICS for m in metrics):
        raise _param_error("metrics: Invalid metric " + ", ".join(str(m) for m in metrics if m not in REPORT_METRICS))
    start, end = _date(body, "start_date"), _date(body, "end_date")
    if end < start:
        raise _param_error("end_date must not be earlier than start_date.")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise _param_error(f"The time span cannot exceed {MAX_REPORT_DAYS} days when grouping by stat_time_day.")
    rows: list[dict[str, Any]] = []
    objs = sorted(store.of(account.advertiser_id, level), key=lambda o: o.id)
    day = start
    while day <= end:
        for obj in objs:
            m = store.metrics(obj, day)
            if m is None:
                continue
            rows.append(
                {
                    "dimensions": {f"{level}_id": obj.id, "stat_time_day": f"{day.isoformat()} 00:00:00"},
                    "metrics": {str(k): _metric(str(k), m, obj, store, account.currency) for k in metrics},
                }
            )
        day += timedelta(days=1)
    chunk, page_info = _page(body, rows)
    return {"list": chunk, "page_info": page_info}


# --- Events API --------------------------------------------------------------------------------


async def event_track(request: Request, store: Store, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if not token:
        raise ApiError(p.ACCESS_TOKEN_EMPTY, "Access token is null, please check the Access-Token header.")
    source = _require(body, "event_source")
    if source not in EVENT_SOURCES:
        raise _param_error("event_source: Must be one of: " + ", ".join(sorted(EVENT_SOURCES)) + ".")
    source_id = str(_require(body, "event_source_id"))
    accounts = store.account_for_token(token)
    if not accounts:
        raise ApiError(p.ACCESS_TOKEN_INVALID, "Access token is incorrect or has been revoked.")
    account = next((a for a in accounts if a.pixel_code == source_id), None)
    if account is None:
        raise ApiError(p.PERMISSION_DENIED, f"No permission to report events to {source_id}.")
    data = _require(body, "data")
    if not isinstance(data, list) or not 1 <= len(data) <= 1000:
        raise _param_error("data: a list of 1-1000 events.")
    for i, event in enumerate(data):
        if not isinstance(event, dict):
            raise _param_error(f"data[{i}]: Not a valid event object.")
        _require(event, "event")
        if not isinstance(event.get("event_time"), int):
            raise _param_error(f"data[{i}].event_time: a Unix timestamp in seconds.")
        user = event.get("user") or {}
        for key in ("email", "phone", "external_id"):
            if key in user and not p.is_sha256_hex(user[key]):
                raise _param_error(f"data[{i}].user.{key}: must be hashed with SHA256 (64 lower-case hex).")
        props = event.get("properties") or {}
        if "value" in props and not isinstance(props["value"], int | float | Decimal):
            raise _param_error(f"data[{i}].properties.value: Not a valid number.")
        if "currency" in props and not (isinstance(props["currency"], str) and len(props["currency"]) == 3):
            raise _param_error(f"data[{i}].properties.currency: an ISO 4217 code.")
    for event in data:
        store.receive(str(source), source_id, account.advertiser_id, event)
    return {}


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "campaign/create/"): campaign_create,
    ("GET", "campaign/get/"): _get_handler("campaign"),
    ("POST", "campaign/update/"): _update_handler("campaign"),
    ("POST", "campaign/status/update/"): _status_handler("campaign"),
    ("POST", "adgroup/create/"): adgroup_create,
    ("GET", "adgroup/get/"): _get_handler("adgroup"),
    ("POST", "adgroup/update/"): _update_handler("adgroup"),
    ("POST", "adgroup/status/update/"): _status_handler("adgroup"),
    ("POST", "ad/create/"): ad_create,
    ("GET", "ad/get/"): _get_handler("ad"),
    ("POST", "ad/status/update/"): _status_handler("ad"),
    ("GET", "report/integrated/get/"): report_get,
    ("POST", "event/track/"): event_track,
}


def _query(request: Request) -> dict[str, Any]:
    """GET parameters; lists and objects arrive JSON-encoded (``dimensions=["a","b"]``)."""
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if value.strip().startswith(("[", "{")):
            try:
                out[key] = json.loads(value, parse_float=Decimal)
                continue
            except ValueError:
                raise _param_error(f"{key}: Not valid JSON.") from None
        if key in out:  # repeated form (dimensions=a&dimensions=b)
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


async def api(request: Request) -> Response:
    store: Store = request.app.state.store
    path = request.path_params["path"]
    if not path.endswith("/"):
        path += "/"
    handler = ROUTES.get((request.method, path))
    if handler is None:
        known = any(k[1] == path for k in ROUTES)
        return _json(_envelope(40002 if known else 40400, f"{request.method} {path} is not supported", {}), 200)
    try:
        if request.method == "GET":
            body = _query(request)
        else:
            raw = await request.body()
            try:
                parsed = json.loads(raw or b"{}", parse_float=Decimal)
            except ValueError:
                raise _param_error("The request body is not valid JSON.") from None
            if not isinstance(parsed, dict):
                raise _param_error("The request body must be a JSON object.")
            body = parsed
        fault = store.take_fault(path, str(body.get("advertiser_id") or "") or None)
        if fault is not None:
            logger.info("sandbox fault %s on %s", fault.kind, path)
            if fault.kind == "http_503":
                return Response("Service Unavailable", status_code=503, headers={"X-Sandbox": SANDBOX_NAME})
            codes = {
                "rate_limit": (p.RATE_LIMITED, "Too many requests. Please retry in some time."),
                "internal": (p.INTERNAL_ERROR, "System error, please try again later."),
                "auth": (p.ACCESS_TOKEN_INVALID, "Access token is incorrect or has been revoked."),
            }
            code, message = codes[fault.kind]
            return _json(_envelope(code, message, {}))
        token = request.headers.get("Access-Token")
        data = await handler(request, store, body, token)
    except ApiError as exc:
        return _json(_envelope(exc.code, exc.message, {}), exc.http_status)
    return _json(_envelope(p.OK, "OK", data))


# --- /sandbox admin (simulated, not TikTok) ----------------------------------------------------


async def _admin_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}", parse_float=Decimal)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ValueError("a JSON object body")
    return body


def _admin(fn: Callable[[Request, Store], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return _json(await fn(request, request.app.state.store))
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return _json({"error": "bad_request", "message": str(exc) or type(exc).__name__}, 400)
        except LookupError as exc:  # pragma: no cover - KeyError is caught above
            return _json({"error": "not_found", "message": str(exc)}, 404)

    return endpoint


def _account_of(store: Store, advertiser_id: Any) -> Account:
    account = store.accounts.get(str(advertiser_id))
    if account is None:
        raise ValueError(f"unknown account {advertiser_id}")
    return account


async def admin_accounts(request: Request, store: Store) -> Any:
    body = await _admin_body(request)
    advertiser_id = str(body["advertiser_id"])
    if not advertiser_id.isdigit():
        raise ValueError("advertiser_id is a numeric string")
    account = Account(
        advertiser_id=advertiser_id,
        access_token=str(body.get("access_token") or DEFAULT_ACCESS_TOKEN),
        currency=str(body.get("currency") or "BRL").upper(),
        timezone=str(body.get("timezone") or "America/Sao_Paulo"),
        pixel_code=str(body["pixel_code"]) if body.get("pixel_code") else None,
        events_access_token=str(body["events_access_token"]) if body.get("events_access_token") else None,
        min_campaign_budget=Decimal(str(body.get("min_campaign_budget", 50))),
        min_adgroup_budget=Decimal(str(body.get("min_adgroup_budget", 20))),
        operation_status_allowlisted=bool(body.get("operation_status_allowlisted", False)),
    )
    store.accounts[advertiser_id] = account
    return {
        "advertiser_id": account.advertiser_id,
        "currency": account.currency,
        "pixel_code": account.pixel_code,
        "min_campaign_budget": account.min_campaign_budget,
        "min_adgroup_budget": account.min_adgroup_budget,
        "operation_status_allowlisted": account.operation_status_allowlisted,
        "simulated": True,
    }


async def admin_objects(request: Request, store: Store) -> Any:
    account = _account_of(store, request.query_params.get("account"))
    exp = p.exponent(account.currency)
    out = []
    for obj in sorted(store.of(account.advertiser_id), key=lambda o: (LEVELS.index(o.level), o.id)):
        out.append(
            {
                "level": obj.level,
                "id": obj.id,
                "name": obj.name,
                "parent_id": obj.parent_id,
                "operation_status": obj.operation_status,
                "deleted": obj.deleted,
                "budget_mode": obj.budget_mode,
                "budget": str(obj.budget) if obj.budget is not None else None,
                "budget_minor": int(obj.budget.scaleb(exp)) if obj.budget is not None else None,
                "fields": obj.fields,
            }
        )
    return {"objects": out, "simulated": True}


async def admin_delivery(request: Request, store: Store) -> Any:
    body = await _admin_body(request)
    account = _account_of(store, body["account"])
    level = {"adset": "adgroup"}.get(str(body["level"]), str(body["level"]))
    if level not in LEVELS:
        raise ValueError("level is campaign, adgroup (adset) or ad")
    obj = store.objects.get(str(body["id"]))
    if obj is None or obj.level != level or obj.advertiser_id != account.advertiser_id:
        raise ValueError(f"no {level} {body['id']} on {account.advertiser_id}")
    day = date.fromisoformat(str(body["day"]))
    values = [int(body.get(k, 0)) for k in ("impressions", "clicks", "spend_minor", "conversions")]
    if any(v < 0 for v in values):
        raise ValueError("metrics are not negative")
    store.delivery[(account.advertiser_id, level, obj.id, day)] = Metrics(*values)
    return {"ok": True, "simulated": True}


async def admin_simulate(request: Request, store: Store) -> Any:
    body = await _admin_body(request)
    account = _account_of(store, body["account"])
    day = date.fromisoformat(str(body["day"]))
    return {"rows": store.simulate(account, day), "simulated": True}


async def admin_conversions(request: Request, store: Store) -> Any:
    account = _account_of(store, request.query_params.get("account"))
    events = [e for e in store.events if e.advertiser_id == account.advertiser_id]
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in events:
        key = (e.event_source_id, str(e.event.get("event")), str(e.event.get("event_id") or ""))
        entry = by_key.setdefault(
            key, {"event_source": e.event_source, "event_source_id": e.event_source_id, **e.event, "received": 0}
        )
        entry["received"] += 1
        entry["duplicates"] = store.duplicates.get(key, 0)
    return {"events": list(by_key.values()), "received_total": len(events), "simulated": True}


async def admin_faults(request: Request, store: Store) -> Any:
    body = await _admin_body(request)
    kind = str(body["kind"])
    if kind not in ("rate_limit", "internal", "http_503", "auth"):
        raise ValueError("kind is rate_limit, internal, http_503 or auth")
    count = int(body.get("count", 1))
    if count < 1:
        raise ValueError("count >= 1")
    operation = str(body.get("operation") or "*")
    account = body.get("account")
    store.faults.append(Fault(operation, kind, count, str(account) if account else None))  # type: ignore[arg-type]
    return {"ok": True, "simulated": True}


async def admin_reset(request: Request, store: Store) -> Any:
    store.reset()
    return {"ok": True, "simulated": True}


def create_app(seed: int = 0) -> Starlette:
    routes = [
        Route("/sandbox/accounts", _admin(admin_accounts), methods=["POST"]),
        Route("/sandbox/objects", _admin(admin_objects), methods=["GET"]),
        Route("/sandbox/delivery", _admin(admin_delivery), methods=["POST"]),
        Route("/sandbox/simulate", _admin(admin_simulate), methods=["POST"]),
        Route("/sandbox/conversions", _admin(admin_conversions), methods=["GET"]),
        Route("/sandbox/faults", _admin(admin_faults), methods=["POST"]),
        Route("/sandbox/reset", _admin(admin_reset), methods=["POST"]),
        Route("/open_api/v1.3/{path:path}", api, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.store = Store(seed=seed)
    return app


__all__ = ["DEFAULT_ACCESS_TOKEN", "SANDBOX_NAME", "create_app"]
