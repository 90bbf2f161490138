"""A local, simulated Meta Marketing API + Conversions API (``meta-ads-sandbox``). NOT Meta.

Every response carries ``X-Sandbox: meta-ads-sandbox``; admin answers say ``"simulated":
true``. State is in memory. ``running_sandbox()`` (tests, real socket, random port) and
``python -m tools.ads.meta.sandbox --port 8095``.

Graph paths it speaks (``/{version}/…``; token as ``Authorization: Bearer`` or
``access_token``; form-encoded bodies with JSON-encoded arrays/objects, or JSON bodies):

* ``GET act_{id}``, ``GET act_{id}/campaigns|adsets|ads|adcreatives``, ``GET {id}?fields=``;
* ``POST act_{id}/campaigns|adsets|adcreatives|ads`` → ``{"id"}``; ``POST {id}`` (status,
  daily_budget, name) → ``{"success": true}``; ``execution_options=["validate_only"]`` on
  any of them validates, writes nothing and answers ``{"success": true}``;
* ``GET act_{id}/insights`` and ``GET {object_id}/insights`` with ``level``,
  ``time_range={"since","until"}``, ``time_increment=1``, ``fields``;
* ``POST {pixel_id}/events`` (Conversions API);
* lists are paged: ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}``
  with ``limit`` (default 25) and ``after``.

Verified (public sources found through ``search``; file paths are in public repositories):

* Enums — facebook/facebook-python-business-sdk ``facebook_business/adobjects/campaign.py``
  (``Objective`` incl. ``OUTCOME_LEADS``, ``OUTCOME_SALES``, ``OUTCOME_TRAFFIC``,
  ``OUTCOME_ENGAGEMENT``, ``OUTCOME_AWARENESS``, ``OUTCOME_APP_PROMOTION``;
  ``SpecialAdCategories``; ``ExecutionOptions`` ``validate_only``/``include_recommendations``)
  and the SDK's deprecated ``HasStatus`` (ACTIVE/ARCHIVED/DELETED/PAUSED); the ODAX
  ``OUTCOME_*`` objectives are what current versions accept (public integrations).
  ``adset.py``/``ad.py``/``adcreative.py``/``adsinsights.py`` were not read line by line:
  the ad set, creative and ad field names (``billing_event``, ``optimization_goal``,
  ``targeting.geo_locations``, ``object_story_spec.link_data``, ``creative.creative_id``,
  ``url_tags``) are from Meta's reference as quoted by public integrations.
* ``validate_only`` answers ``{"success": true}`` and writes nothing; updates answer
  ``{"success": true}`` (public integrations quoting Meta's Campaign/Ad Set/Ad references).
* Budgets: integers in the currency's offset unit (centavos for BRL); insights numbers are
  strings and ``spend`` a decimal string in currency units (``"0.14"``), daily rows carry
  ``date_start``/``date_stop`` (a recorded response in milaana1988/fastapi-facebook-creatives
  ``app/tests/creatives_mock.py``).
* Error object ``{message, type, code, error_subcode, error_user_msg, is_transient,
  fbtrace_id}``; 190 invalid token; 100 invalid parameter (subcode 33: object does not
  exist); rate limits 4, 17 (subcode 2446079), 613 (subcode 1487742), 80000 to 80014 BUC —
  Meta "Marketing API Rate Limiting" (developers.facebook.com/docs/marketing-api/overview/
  rate-limiting) and "Business Use Case Rate Limits"; headers ``X-Business-Use-Case-Usage``
  (``{id: [{type, call_count, total_cputime, total_time, estimated_time_to_regain_access}]}``,
  regain time in minutes), ``X-Ad-Account-Usage`` (``acc_id_util_pct``,
  ``reset_time_duration``), ``x-fb-ads-insights-throttle`` (``app_id_util_pct``,
  ``acc_id_util_pct``).
* Conversions API: ``POST /{pixel_id}/events`` ``{data, test_event_code?}`` →
  ``{events_received, messages, fbtrace_id}``; SHA-256 of normalised ``em``/``ph``
  (SDK ``facebook_business/adobjects/serverside/normalize.py``); ``action_source`` values
  (SDK ``serverside/action_source.py``) plus ``business_messaging``; ``fbc`` =
  ``fb.1.<ms>.<fbclid>``; dedupe on ``event_name`` + ``event_id`` within 48 hours (Meta
  "Handling duplicate events", quoted by the Aliyun CAMS reference); up to 1000 events a
  request; event_time not more than 7 days old.
* Click-to-WhatsApp (CAPI for Business Messaging, developers.facebook.com/docs/marketing-api/
  conversions-api/business-messaging and partner docs: Gupshup "Push conversion events",
  AWS End User Messaging Social ``SendWhatsAppConversionEvent``): ``action_source:
  "business_messaging"``, ``messaging_channel: "whatsapp"``, ``user_data:
  {whatsapp_business_account_id, ctwa_clid}``; ``LeadSubmitted`` rather than ``Lead``
  (subcode 2804066 otherwise — from Zernio's API docs, one secondary source).

Assumed (not verifiable offline): that ``special_ad_categories`` is required on create
(widely documented; the sandbox enforces it); ids (``2385`` + 13 digits); HTTP 400 for token and
throttling errors and 500 with code 2 for server faults; messages and most subcodes
(2804003/2804004/2804020 for CAPI are illustrative); the ``ads_api_access_tier`` values; an
ad set of a budgeted campaign (CBO) must not carry its own budget and vice versa; a creative's
status is ACTIVE; no minimum budget; the full set of Business Messaging event names;
that Meta rejects the whole events request when one event is invalid; that insights omit
days without delivery; ``messages`` objective mapped to ``OUTCOME_ENGAGEMENT`` with
``CONVERSATIONS``.

Delivery (simulated): ``POST /sandbox/delivery`` sets one object's metrics for one day; a
report at level L lists the L objects with rows on themselves or their descendants (an ad
row counts for its ad set and campaign; a campaign row never appears at ad level).
``POST /sandbox/simulate {account, day}``: for each ACTIVE campaign with a budget B (its
own, or the sum of its ACTIVE ad sets'), ``spend = floor(B * f)`` with ``f = 0.6 + 0.4 *
u``, ``u`` = first 4 bytes of ``sha256("<campaign id>:<day>")`` / 2**32; ``impressions =
spend // 2``, ``clicks = impressions * 15 // 1000``, ``conversions = clicks // 10``; split
evenly over its ads that are ACTIVE in ACTIVE ad sets (remainders to the first), or kept on
the campaign when it has none. Paused/archived/deleted campaigns deliver nothing.
Conversions are reported as ``actions`` of type ``purchase`` (``OUTCOME_SALES``) or
``lead``.

Admin (Tridium-only, simulated): ``POST /sandbox/accounts`` ``{ad_account_id,
access_token, currency?, timezone?, pixel_id?, business_id?, page_id?, waba_id?}``;
``GET /sandbox/objects?account=`` (``daily_budget`` in Meta's unit and
``daily_budget_minor``); ``POST /sandbox/delivery``; ``POST /sandbox/simulate``;
``GET /sandbox/conversions?account=`` (events as received, per-event ``duplicate`` and
``duplicates``, totals); ``POST /sandbox/faults`` ``{operation: read|create_campaign|
create_adset|create_creative|create_ad|update|insights|events|*, kind: rate_limit|
server_error|after_commit_error|auth, count, code?, subcode?, regain_minutes?}``
(``after_commit_error`` writes, then answers 500: an ambiguous create);
``GET /sandbox/requests?account=``; ``POST /sandbox/clock {advance_s}``; ``POST /sandbox/reset``.
"""

from .app import DEDUPE_WINDOW_S, SANDBOX_NAME, Account, AdsObject, GraphError, Sandbox, SandboxState, create_app
from .server import DEFAULT_PORT, RunningMetaAdsSandbox, running_sandbox, serve

__all__ = [
    "DEDUPE_WINDOW_S",
    "DEFAULT_PORT",
    "SANDBOX_NAME",
    "Account",
    "AdsObject",
    "GraphError",
    "RunningMetaAdsSandbox",
    "Sandbox",
    "SandboxState",
    "create_app",
    "running_sandbox",
    "serve",
]
