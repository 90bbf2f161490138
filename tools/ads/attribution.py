"""Lead attribution: the first ad touch of a lead, once (``lead_attribution``).

Touches come from the channels as ``tools.channels.AdReferral`` — a click-to-WhatsApp
referral, an Instagram click-to-Direct referral, the web-chat widget's UTM fields and click
id — and are recorded **first touch**: the first touch that reaches a lead is kept; later
ones (a second ad, another campaign) never overwrite it. The KPIs and the conversions sent
back to the platforms read this row.

Mapping (documented in docs/ads.md "The loop"):

* platform: the click id decides (``ctwa_clid``/``fbclid`` → meta, ``gclid``/``wbraid``/
  ``gbraid`` → google, ``ttclid`` → tiktok); WhatsApp and Instagram referrals are Meta's;
  otherwise ``utm_source`` (facebook/instagram/meta/fb/ig, google/adwords, tiktok);
* ad: the referral's ad id, else ``utm_content``; campaign: ``utm_campaign``. Both are
  matched against our mirror ``ad_objects`` (by external id, or by name for the campaign):
  an ad we know gives its ad set and campaign (and, at query time, the creative version it
  shows); a campaign we do not know keeps the text the link carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from db.events import emit
from tools.channels import AdReferral

from .models import Platform

_CLICK_PLATFORM: dict[str, Platform] = {
    "ctwa_clid": "meta",
    "fbclid": "meta",
    "gclid": "google",
    "wbraid": "google",
    "gbraid": "google",
    "ttclid": "tiktok",
}
_UTM_PLATFORM: dict[str, Platform] = {
    **dict.fromkeys(("facebook", "fb", "instagram", "ig", "meta", "whatsapp"), "meta"),
    **dict.fromkeys(("google", "adwords", "youtube"), "google"),
    **dict.fromkeys(("tiktok",), "tiktok"),
}


@dataclass(frozen=True, slots=True)
class Attribution:
    platform: Platform | None
    campaign_external_id: str | None
    adset_external_id: str | None
    ad_external_id: str | None
    click_id_kind: str | None
    click_id: str | None
    utm: dict[str, str]
    source: str


def platform_of(ref: AdReferral) -> Platform | None:
    if ref.click_id_kind:
        return _CLICK_PLATFORM[ref.click_id_kind]
    if ref.source in ("whatsapp_referral", "instagram_referral"):
        return "meta"
    return _UTM_PLATFORM.get((ref.utm.get("utm_source") or "").strip().lower())


async def resolve(conn: asyncpg.Connection, tenant_id: TenantId, ref: AdReferral) -> Attribution:
    """The attribution row a referral gives, with ids completed from ``ad_objects``."""
    platform = platform_of(ref)
    ad_id = ref.ad_id or ref.utm.get("utm_content")
    campaign = ref.utm.get("utm_campaign")
    adset = None
    if ad_id:
        ad = await conn.fetchrow(
            """select a.platform, a.parent_external_id as adset, s.parent_external_id as campaign
               from ad_objects a
               left join ad_objects s on s.tenant_id = a.tenant_id and s.account_id = a.account_id
                    and s.level = 'adset' and s.external_id = a.parent_external_id
               where a.tenant_id = $1 and a.level = 'ad' and a.external_id = $2
                 and ($3::text is null or a.platform = $3)
               order by a.created_at limit 1""",
            tenant_id,
            ad_id,
            platform,
        )
        if ad is not None:
            platform = platform or ad["platform"]
            adset = ad["adset"]
            campaign = ad["campaign"] or campaign
        elif not ref.ad_id:
            ad_id = None  # utm_content that is not one of our ads: free text, not an id
    if campaign and not ad_id:
        found = await conn.fetchrow(
            """select platform, external_id from ad_objects
               where tenant_id = $1 and level = 'campaign' and (external_id = $2 or name = $2)
                 and ($3::text is null or platform = $3)
               order by (external_id = $2) desc, created_at limit 1""",
            tenant_id,
            campaign,
            platform,
        )
        if found is not None:
            platform = platform or found["platform"]
            campaign = found["external_id"]
    return Attribution(
        platform=platform,
        campaign_external_id=campaign,
        adset_external_id=adset,
        ad_external_id=ad_id,
        click_id_kind=ref.click_id_kind,
        click_id=ref.click_id,
        utm=dict(ref.utm),
        source=ref.source,
    )


async def record_first_touch(
    conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID, ref: AdReferral
) -> dict[str, Any] | None:
    """Store the lead's first touch; None when the lead already had one (first touch wins).
    Emits ``lead.attributed`` with the ids (never the click id) when it stores one."""
    exists = await conn.fetchval(
        "select 1 from lead_attribution where tenant_id = $1 and lead_id = $2", tenant_id, lead_id
    )
    if exists:
        return None
    a = await resolve(conn, tenant_id, ref)
    row = await conn.fetchrow(
        """insert into lead_attribution (tenant_id, lead_id, platform, campaign_external_id, adset_external_id,
                                         ad_external_id, click_id_kind, click_id, utm, touch, source)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'first', $10)
           on conflict (tenant_id, lead_id) do nothing
           returning id, platform, campaign_external_id, adset_external_id, ad_external_id, source""",
        tenant_id,
        lead_id,
        a.platform,
        a.campaign_external_id,
        a.adset_external_id,
        a.ad_external_id,
        a.click_id_kind,
        a.click_id,
        a.utm,
        a.source,
    )
    if row is None:
        return None
    out = {k: (str(v) if isinstance(v, UUID) else v) for k, v in dict(row).items()}
    await emit(conn, tenant_id, "lead.attributed", {"lead_id": str(lead_id), **{k: out[k] for k in out if k != "id"}})
    return out


async def attribution_of(conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID) -> dict[str, Any] | None:
    """The lead's first touch with the creative version of its ad (via ``ad_objects``)."""
    row = await conn.fetchrow(
        """select la.platform, la.campaign_external_id, la.adset_external_id, la.ad_external_id,
                  la.click_id_kind, la.click_id, la.utm, la.source, la.created_at,
                  (select o.creative_version_id from ad_objects o
                    where o.tenant_id = la.tenant_id and o.level = 'ad' and o.external_id = la.ad_external_id
                      and o.platform = la.platform
                    order by o.created_at limit 1) as creative_version_id
           from lead_attribution la where la.tenant_id = $1 and la.lead_id = $2""",
        tenant_id,
        lead_id,
    )
    return dict(row) if row is not None else None


async def save_visitor_touch(
    conn: asyncpg.Connection, tenant_id: TenantId, channel_account_id: UUID, visitor_id: str, ref: AdReferral
) -> None:
    """A widget visitor's touch, kept until the first message creates the lead."""
    await conn.execute(
        """insert into visitor_touches (tenant_id, channel_account_id, visitor_id, touch) values ($1, $2, $3, $4)
           on conflict (tenant_id, channel_account_id, visitor_id) do nothing""",
        tenant_id,
        channel_account_id,
        visitor_id,
        ref.model_dump(mode="json", exclude_none=True),
    )


async def take_visitor_touch(
    conn: asyncpg.Connection, tenant_id: TenantId, channel_account_id: UUID, visitor_id: str
) -> AdReferral | None:
    """The visitor's stored touch, removed (it travels on the message into the inbox)."""
    raw = await conn.fetchval(
        """delete from visitor_touches where tenant_id = $1 and channel_account_id = $2 and visitor_id = $3
           returning touch""",
        tenant_id,
        channel_account_id,
        visitor_id,
    )
    return AdReferral.model_validate(raw) if raw is not None else None


__all__ = [
    "Attribution",
    "attribution_of",
    "platform_of",
    "record_first_touch",
    "resolve",
    "save_visitor_touch",
    "take_visitor_touch",
]
