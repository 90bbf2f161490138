"""tridium-google-ads-sandbox: a local, SIMULATED Google Ads API (REST/JSON) for tests and
``make run`` (port 8096). Not Google: every response carries ``X-Sandbox``; state is in
memory; admin routes under ``/sandbox/...`` are Tridium's.

API version pinned: **v26** (``tools.ads.google.client.DEFAULT_API_VERSION``). On
2026-12-03 Google's sunset-dates page says "If you are new to the Google Ads API, we
recommend that you start with v26" and the reference pages call v26 "the latest active
version"; v22 sunsets 2026-10-07 and majors live ~12 months, so v26 gives the longest
runway. The sandbox answers any ``/v{N}/`` and echoes that version in error ``@type``.

Google paths served::

    POST /v{N}/customers/{cid}/campaignBudgets:mutate | campaigns:mutate
         | adGroups:mutate | adGroupAds:mutate           operations[] create/update/remove
    POST /v{N}/customers/{cid}/googleAds:mutate          mutateOperations[] (temporary ids)
    POST /v{N}/customers/{cid}/googleAds:searchStream    {query} -> [ {results, fieldMask, requestId} ]
    POST /v{N}/customers/{cid}:uploadClickConversions    {conversions, partialFailure: true}

Admin (simulated, not Google): ``POST /sandbox/accounts`` {customer_id, access_token,
developer_token?, currency=BRL, time_zone, conversion_action_ids=["7001"]}; ``GET
/sandbox/objects?account=`` (budgets in micros AND minor); ``POST /sandbox/delivery``
{account, level campaign|adset|ad, id, day, impressions, clicks, spend_minor,
conversions?, conversion_value_minor?} — an object's own row wins, otherwise ad rows roll
up to their ad group and ad groups to their campaign; ``POST /sandbox/simulate`` {account,
day} (formula in ``app.GoogleAdsSandbox._simulate``: seeded sha256, spend ≤ the daily
budget, only ENABLED campaigns); ``GET /sandbox/conversions?account=`` (as received,
hashes only, ``duplicates`` counted per event); ``POST /sandbox/faults`` {operation mutate|
searchStream|uploadClickConversions|*, kind rate_limit|unavailable|internal, count,
retry_delay_s?}; ``POST /sandbox/reset``.

VERIFIED (public sources, via the search tool, 2026-12-03):

* Base ``https://googleads.googleapis.com/v{N}/customers/{id}/...``, ``Authorization:
  Bearer``, optional ``login-customer-id``; ``developer-token`` — developers.google.com/
  google-ads/api/docs/api-policy/developer-token: developer tokens were sunset on
  2026-09-09, the header "is optional and ignored by the API servers"; access levels now
  belong to the Cloud project of the OAuth client. So the connector sends it only when the
  account still has one, and the sandbox ignores it.
* Campaign creates must set ``contains_eu_political_advertising`` or fail with
  ``FieldError.REQUIRED`` (docs/api-policy/eu-par; GitHub kLOsk/adloop#5 shows the error
  with ``field_path_elements``). Values CONTAINS_/DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING
  (reference EuPoliticalAdvertisingStatusEnum).
* Budget create fields ``name``, ``amount_micros``, ``delivery_method`` STANDARD,
  ``explicitly_shared``; campaign ``status`` PAUSED, ``advertising_channel_type``,
  ``campaign_budget`` resource name, ``manual_cpc`` / ``maximize_conversions`` (public
  client code using the google-ads library, e.g. find_string hits of
  ``contains_eu_political_advertising``; googleads/google-ads-python examples).
* UploadClickConversionsRequest: ``partial_failure`` "Required ... should always be set to
  true"; ``validate_only`` returns no results; response ``results`` (empty message for a
  failed row) + ``partial_failure_error`` + ``job_id``; ClickConversion fields ``gclid``,
  ``gbraid``, ``wbraid``, ``conversion_action``, ``conversion_date_time`` "yyyy-mm-dd
  hh:mm:ss+|-hh:mm", ``conversion_value`` (double), ``currency_code``, ``order_id`` ("can
  only be used for one conversion per conversion action"), ``user_identifiers`` (only
  hashed_email / hashed_phone_number, max 5) — googleads/google-ads-python
  ``google/ads/googleads/v22/services/types/conversion_upload_service.py``.
* Dedupe: ConversionUploadError ``CLICK_CONVERSION_ALREADY_EXISTS`` ("same click and
  conversion_date_time as an existing conversion"), ``ORDER_ID_ALREADY_IN_USE``,
  ``DUPLICATE_ORDER_ID``, ``DUPLICATE_CLICK_CONVERSION_IN_REQUEST``,
  ``TOO_MANY_CONVERSIONS_IN_REQUEST`` (<2001), ``INVALID_CONVERSION_ACTION`` (reference
  ConversionUploadErrorEnum, v22-v24).
* Hashing: SHA-256 of trimmed, lower-cased values, phone E.164, dots removed before
  ``@gmail.com``/``@googlemail.com`` (enhanced-conversions docs; the google-ads-python
  example ``upload_enhanced_conversions_for_leads.py`` — which in its current version also
  strips ``+`` and ``.`` for every domain; we follow the documented gmail-only rule).
* searchStream response: ``results[]``, ``fieldMask``, ``requestId`` (reference
  SearchGoogleAdsStreamResponse); errors of searchStream come array-wrapped (captured
  bodies in public code). Error shape ``{error:{code,message,status,details:[{@type:
  ".../google.ads.googleads.v{N}.errors.GoogleAdsFailure", errors:[{errorCode:{<kind>:
  REASON}, message, location:{fieldPathElements:[{fieldName,index}]}}], requestId}]}}``
  (reference GoogleAdsFailure/GoogleAdsError/ErrorLocation; captured 400/403 bodies in
  public code). QuotaErrorDetails ``rate_scope``, ``rate_name``, ``retry_delay``
  (Duration) and QuotaError RESOURCE_EXHAUSTED / RESOURCE_TEMPORARILY_EXHAUSTED (reference).
  AuthenticationError OAUTH_TOKEN_INVALID/EXPIRED/HEADER_INVALID; QueryError reasons used
  by ``gaql`` (reference enums, generated typings in public code).
* Google rounds nothing for us: ``cost_micros`` is int64 (a string in JSON).
* Offline click-conversion import: from 2026-06-15 the API refuses NEW adopters with
  ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE`` (Google Ads developer blog, 2026-05-15);
  existing adopters continue while moving to the Data Manager API. A fresh production
  integration should plan for the Data Manager API; ``uploadClickConversions`` here works
  for allow-listed tokens and in the sandbox.

ASSUMED (not found verbatim; shaped after the verified parts):

* HTTP 429 for RESOURCE_EXHAUSTED (gRPC→HTTP mapping in the handle-errors guide) and the
  ``retryDelay`` rendered as ``"30s"`` under ``errors[].details.quotaErrorDetails`` (proto3
  JSON of Duration); a ``google.rpc.RetryInfo`` detail is also read if present.
* Which error Google returns for a given bad input in the sandbox: ``rangeError.TOO_LOW``,
  ``campaignBudgetError.NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT`` (budget not a multiple of
  10,000 micros for BRL), ``campaignBudgetError.DUPLICATE_NAME``,
  ``campaignError.DUPLICATE_CAMPAIGN_NAME``, ``adGroupError.DUPLICATE_ADGROUP_NAME``,
  ``mutateError.RESOURCE_NOT_FOUND``, ``adError.TOO_FEW_HEADLINES``,
  ``stringLengthError.TOO_LONG``, ``dateError.INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET``,
  ``fieldError.REQUIRED`` for a missing ``partialFailure`` / bidding strategy; field path
  names in ``location`` in snake_case; unknown JSON fields answered like Google's front end
  (400 INVALID_ARGUMENT with a ``google.rpc.BadRequest``).
* REST JSON for ``googleAds:mutate``: ``mutateOperations[].campaignBudgetOperation`` /
  ``campaignOperation``, ``mutateOperationResponses[].campaignBudgetResult`` /
  ``campaignResult`` and negative temporary ids (``.../campaignBudgets/-1``) — the proto
  names in camelCase; seen in public client code, not read on a reference page.
* ``updateMask`` as a comma-separated camelCase string (proto3 JSON of FieldMask).
* A 401 answer carries a GoogleAdsFailure with ``authenticationError`` (Google's front end
  may answer a bad token without details; the connector maps on HTTP 401 either way).
* Google omits date-segmented rows without metrics; non-segmented reports return one row
  per object. RSA limits 3-15 headlines ≤30 chars, 2-4 descriptions ≤90.
* The GAQL subset and which QueryError reason a malformed query gets (see ``gaql``).
"""

from .app import SANDBOX_NAME, GoogleAdsSandbox, create_app
from .server import RunningSandbox, running_sandbox, serve

__all__ = ["SANDBOX_NAME", "GoogleAdsSandbox", "RunningSandbox", "create_app", "running_sandbox", "serve"]
