-- 0015 ads loop: attribution captured before a lead exists, conversions that cannot be sent,
-- and the suppression that keeps nurture/retargeting away from customers (docs/ads.md "The loop").
--
-- * visitor_touches: the ad touch (UTM fields, fbclid/gclid/ttclid) a web-chat visitor brought
--   when the widget session started. The lead is created by the inbox on the visitor's first
--   message; that message carries the touch to lead_attribution and the row is deleted.
-- * lead_suppressions: a lead that must not be targeted by nurture or retargeting (a customer
--   after a conversion). Written by Lucy's reaction to the conversion; any nurture or audience
--   export reads it. One row per lead and kind.
-- * ad_conversions: a conversion for a lead with no ad attribution is recorded as 'skipped'
--   with its reason and no platform/account (nothing is sent); a partial unique index keeps
--   those once per event id too.

create table visitor_touches (
    id                 uuid not null default gen_random_uuid() primary key,
    tenant_id          uuid not null references tenants(id) on delete cascade,
    channel_account_id uuid not null,
    visitor_id         text not null check (length(visitor_id) between 1 and 128),
    touch              jsonb not null,
    created_at         timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, channel_account_id, visitor_id),
    foreign key (tenant_id, channel_account_id) references channel_accounts (tenant_id, id) on delete cascade
);

create table lead_suppressions (
    id              uuid not null default gen_random_uuid() primary key,
    tenant_id       uuid not null references tenants(id) on delete cascade,
    lead_id         uuid not null,
    kind            text not null check (kind in ('customer')),
    reason          text not null check (length(reason) between 1 and 500),   -- what made it so
    source_event_id uuid,
    created_at      timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, lead_id, kind),
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete cascade
);

alter table ad_conversions alter column account_id drop not null;
alter table ad_conversions alter column platform drop not null;
alter table ad_conversions add constraint ad_conversions_sendable_check
    check (status = 'skipped' or (platform is not null and account_id is not null));
create unique index ad_conversions_unattributed_uidx on ad_conversions (tenant_id, event_id) where platform is null;

do $$
declare
    t text;
begin
    foreach t in array array['visitor_touches', 'lead_suppressions']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy tenant_isolation on %I using (tenant_id = (select app_tenant_id())) '
            'with check (tenant_id = (select app_tenant_id()))', t);
        execute format('grant select, insert, update, delete on %I to tridium_app', t);
    end loop;
end $$;

-- Which tenants have conversions waiting to be sent (the ads worker's sweep), as
-- inbox_tenants_with_work (0008): a definer function reading through an owner-only SELECT
-- policy; it returns tenant ids only.
create policy ads_conversion_scan on ad_conversions for select to tridium_owner using (true);
create or replace function ads_tenants_with_due_conversions() returns setof uuid
    language sql stable security definer set search_path = public
    as $$ select distinct tenant_id from ad_conversions where status = 'queued' and next_attempt_at <= now() $$;
revoke all on function ads_tenants_with_due_conversions() from public;
grant execute on function ads_tenants_with_due_conversions() to tridium_app;
