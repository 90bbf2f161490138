"""A local, SIMULATED TikTok Marketing API v1.3 (``tridium-tiktok-sandbox``) for tests and
local runs — not TikTok. Every response carries ``X-Sandbox: tridium-tiktok-sandbox``.

TikTok paths live under ``/open_api/v1.3/``: ``campaign/create|get|update|status/update/``,
``adgroup/create|get|update|status/update/``, ``ad/create|get|status/update/``,
``report/integrated/get/`` and ``event/track/``. Tridium's admin API (simulated, not TikTok)
lives under ``/sandbox/``: ``POST accounts`` (advertiser_id, access_token, currency,
pixel_code, events_access_token, min_campaign_budget, min_adgroup_budget,
operation_status_allowlisted), ``GET objects?account=`` (budget in currency units AND
``budget_minor``), ``POST delivery`` ({account, level campaign|adgroup|adset|ad, id, day,
impressions, clicks, spend_minor, conversions}), ``POST simulate`` ({account, day}),
``GET conversions?account=`` (events as received, ``received`` and ``duplicates`` per
event_id), ``POST faults`` ({operation: "campaign/create/"|"*", kind: rate_limit|internal|
http_503|auth, count, account?}) and ``POST reset``. State is in memory.

Reports: an explicit ``/sandbox/delivery`` row for an object and day wins; without one the
object reports the sum of its children's rows (ads → ad group → campaign). Days without any
row are not listed. ``/sandbox/simulate`` formula, per ENABLE (not deleted) campaign and
day, with ``u1, u2, u3`` the first three 64-bit words of
``sha256(f"{seed}:{advertiser_id}:{campaign_id}:{day}")`` divided by 2**64:
``spend = floor(B * (0.60 + 0.35*u1))`` where B is the campaign daily budget in minor units
(or the sum of its ENABLE ad groups' budgets when the campaign has none);
``impressions = spend * 1000 // (1500 + floor(1500*u2))``;
``clicks = floor(impressions * (0.008 + 0.012*u3))``; ``conversions = clicks // 20``. It is
split evenly (remainder to the first) across the ENABLE ads of ENABLE ad groups, or kept at
campaign level when there are none; DISABLE or deleted campaigns deliver nothing.

Verified (source):

* Envelope ``{code, message, request_id, data}``, ``code`` 0 = success — TikTok's SDK
  ``InlineResponse200`` (tiktok/tiktok-business-api-sdk python_sdk/docs/InlineResponse200.md);
  errors judged by ``code`` whatever the HTTP status — rudder-transformer
  src/v0/destinations/tiktok_ads/networkHandler.js (reads ``response.code``; 0 and 20001
  succeed, 40100 throttled, 40700 retried, 40001/40002 aborted).
* Codes: 40100 rate limit (QPS/QPM/QPD) — rudder-transformer as above, SleekFlow's TikTok
  error table (help.sleekflow.io, "You've hit the rate limit"), a TS enum
  ``RateLimitExceeded = 40100``; 40001 no permission / app not authorised for the advertiser,
  40002 parameter error, 40105 access token missing or incorrect — SleekFlow's table and
  adskull.io/en/errors/tiktok/40001.
* Endpoints, methods and fields — the SDK (api/campaign_creation_api.py docs, models
  campaign_create_body.py, campaign_update_body.py, campaign_status_update_body.py,
  adgroup_create_body.py, ad_create_body.py, adcreate_creatives.py, api/reporting_api.py):
  campaign create ``advertiser_id, campaign_name (≤512), objective_type, budget_mode,
  budget (float, currency units), budget_optimize_on, operation_status``;
  ``operation_status`` at campaign create is ALLOW-LIST ONLY and silently ignored otherwise,
  default ENABLE (campaign_create_body.py) — simulated by ``operation_status_allowlisted``
  (default false) and handled by the connector by disabling right after create; ad group
  and ad ``operation_status`` default ENABLE and are honoured; status update
  ``{advertiser_id, campaign_ids (1-20), operation_status ENABLE|DISABLE|DELETE}``, deleted
  objects cannot be modified; campaign update ``campaign_id, budget``; ad group required
  fields ``advertiser_id, campaign_id, adgroup_name, location_ids, schedule_type,
  schedule_start_time, billing_event`` (setters without a None check in
  adgroup_create_body.py); ad create ``advertiser_id, adgroup_id, creatives[]`` with
  ``ad_name, ad_text, call_to_action, landing_page_url, identity_id, identity_type,
  ad_format, video_id | image_ids``; report GET with ``advertiser_id, report_type BASIC,
  data_level AUCTION_CAMPAIGN|AUCTION_ADGROUP|AUCTION_AD, dimensions, metrics, start_date,
  end_date (account time zone, closed interval), page (default 1), page_size (1-1000,
  default 10)``; header ``Access-Token``.
* Report rows ``{dimensions: {campaign_id, stat_time_day: "YYYY-MM-DD 00:00:00"}, metrics:
  {spend: "12.34", impressions: "100", ...}}`` (strings) and ``page_info {page, page_size,
  total_number, total_page}`` — a captured response with a real request_id in a public repo
  (gmvmax-response.json) and several report parsers; JSON-encoded list parameters
  (``dimensions=["stat_time_day","campaign_id"]``) — public integration docs (the sandbox
  also accepts the SDK's repeated form).
* Events API 2.0: ``POST /open_api/v1.3/event/track/`` with ``{event_source: "web",
  event_source_id: <pixel code>, data: [{event, event_time (unix s), event_id, user:
  {email, phone, external_id (SHA-256), ttclid}, properties: {value, currency}, page:
  {url}}]}``, header ``Access-Token`` — rudder-transformer transformV2.js and
  data/TikTokTrackV2.json; event sources web/app/offline/crm — RudderStack / TikTok docs
  (Events 2.0); standard events ``CompletePayment``, ``SubmitForm``, ``Purchase``, ``Lead``
  family — ads.tiktok.com/help/article/standard-events-parameters (April/Sept 2025);
  dedupe: identical ``event`` + ``event_id`` within 48 h of the first, the first is kept —
  ads.tiktok.com/help/article/event-deduplication. TikTok does not say in the response
  whether an event was a duplicate; the sandbox only counts them (``/sandbox/conversions``).
* Minimum budgets: campaign 50 USD, ad group 20 USD (daily) —
  ads.tiktok.com/help/article/budget-and-bidding-faq and .../help/article/budget.
* No validate-only / dry-run field on any create or update body in the SDK models.

Assumed (not found in public docs; say so if you rely on it):

* The exact code for a budget under the minimum (40002 here) and for missing tokens (40104
  "Access token is null"); all 401xx are treated as token errors.
* 50000/5xxxx as internal errors (retriable); ``faults kind=internal`` answers 50000.
* No ``Retry-After`` on 40100: TikTok documents none, so the sandbox sends none and the
  connector backs off exponentially (it honours ``Retry-After`` on an HTTP 429 if present).
* Minimum budgets in other currencies: the sandbox uses 50 / 20 in the account currency
  unless ``/sandbox/accounts`` sets ``min_campaign_budget``/``min_adgroup_budget``.
* ``ad_text`` at most 100 characters; ``location_ids`` are GeoNames ids (Brazil 3469034);
  the stat_time_day report span limit of 30 days (the connector splits longer ranges).
* ``*/get/`` lists deleted objects not at all (default "not deleted" filter), and filtering
  by ``campaign_ids``/``adgroup_ids``/``ad_ids`` only.
* Media: the sandbox has no media library: any ``image_ids``/``video_id`` string is
  accepted as a placeholder; ``identity_id`` is not checked against an identity list.
* Ad group defaults the connector sends (a minimal set): PLACEMENT_TYPE_AUTOMATIC,
  SCHEDULE_FROM_NOW from now (UTC), BID_TYPE_NO_BID, optimization_goal/billing_event by
  objective (LEAD_GENERATION/OCPM, CONVERT/OCPM, CLICK/CPC, REACH/CPM); objectives
  leads→LEAD_GENERATION, sales→WEB_CONVERSIONS, traffic→TRAFFIC, messages→ENGAGEMENT,
  awareness→REACH.
* Phone numbers hashed as E.164 with the leading ``+``; ``external_id`` hashed as given.
"""

from .app import DEFAULT_ACCESS_TOKEN, SANDBOX_NAME, create_app
from .server import RunningSandbox, running_sandbox, serve
from .store import Store

__all__ = ["DEFAULT_ACCESS_TOKEN", "SANDBOX_NAME", "RunningSandbox", "Store", "create_app", "running_sandbox", "serve"]
