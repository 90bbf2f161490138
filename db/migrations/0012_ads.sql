-- 0012 ads: Lucy's ad operations and the closed loop ad → conversation → deal → payment →
-- conversion → budget (docs/ads.md). Same rules as 0001: tenant_id on every table,
-- unique (tenant_id, id), composite foreign keys, an index led by tenant_id, RLS enabled
-- and FORCED with the tenant_isolation policy, DML grants to tridium_app.
--
-- * ad_accounts: one ad-platform account of a tenant (Meta ad account act_<id>, Google Ads
--   customer id, TikTok advertiser id). Tokens are one Fernet token in `secrets`
--   (tools.inbox.crypto.SecretBox), never stored in clear and never returned: `secret_hints`
--   keeps the last 4 characters. `config` holds non-secret ids (Meta pixel id, Google
--   conversion action, login customer id, TikTok pixel code, api version).
-- * ad_policies: the tenant's spend guardrails, enforced in code (tools.ads.guardrails):
--   daily and monthly caps in minor units of the account currency, the largest budget
--   change per step and per day (percent).
-- * ad_objects: our mirror of the platform's campaigns / ad sets (ad groups) / ads /
--   creatives, with the last known status and daily budget (minor units). A published
--   creative version points at its ad here.
-- * ad_changes: every change Lucy, a rule or a person asks for, as one row that is both the
--   approval queue and the audit log: what was asked (params), the object before and after,
--   the dry run's answer, who approved, what the platform said. Idempotent per key.
-- * ad_metrics_daily: insights synced from the platforms, one row per
--   (platform, level, object, day): idempotent upserts; spend in minor units.
-- * ad_sync_runs: each insights sync (progress, counts, error).
-- * ad_rules: stop-loss / scale-up / pause-on-no-delivery rules as data, evaluated on sync.
-- * lead_attribution: where a lead came from (platform, campaign/ad set/ad ids, the click
--   id: fbclid / gclid / ttclid / ctwa_clid, UTM fields), first touch wins.
-- * ad_conversions: the conversions we send back to a platform (Meta CAPI, Google click
--   conversion upload, TikTok Events API), unique per (platform, event_id) so each is sent
--   once; hashed identifiers only are kept after sending.

create table ad_accounts (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    platform     text not null check (platform in ('meta', 'google', 'tiktok')),
    external_id  text not null check (length(external_id) between 1 and 64),
    name         text not null default '',
    currency     text not null default 'BRL' check (currency ~ '^[A-Z]{3}$'),
    timezone     text not null default 'America/Sao_Paulo',
    base_url     text check (base_url ~ '^https?://'),
    config       jsonb not null default '{}'::jsonb,
    secrets      bytea not null,
    secret_hints jsonb not null default '{}'::jsonb,
    active       boolean not null default true,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, platform, external_id)
);
create index ad_accounts_tenant_platform_idx on ad_accounts (tenant_id, platform);

create table ad_policies (
    tenant_id            uuid not null primary key references tenants(id) on delete cascade,
    daily_cap_minor      bigint not null default 0 check (daily_cap_minor >= 0),
    monthly_cap_minor    bigint not null default 0 check (monthly_cap_minor >= 0),
    max_step_pct         numeric not null default 20 check (max_step_pct > 0 and max_step_pct <= 100),
    max_daily_change_pct numeric not null default 40 check (max_daily_change_pct > 0 and max_daily_change_pct <= 1000),
    updated_by           text not null default '',
    updated_at           timestamptz not null default now()
);

create table ad_objects (
    id                  uuid not null default gen_random_uuid() primary key,
    tenant_id           uuid not null references tenants(id) on delete cascade,
    account_id          uuid not null,
    platform            text not null check (platform in ('meta', 'google', 'tiktok')),
    level               text not null check (level in ('campaign', 'adset', 'ad', 'creative')),
    external_id         text not null check (length(external_id) between 1 and 128),
    parent_external_id  text,
    name                text not null default '',
    status              text not null check (status in ('paused', 'active', 'archived', 'removed')),
    daily_budget_minor  bigint check (daily_budget_minor >= 0),
    creative_version_id uuid,
    meta                jsonb not null default '{}'::jsonb,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, account_id, level, external_id),
    foreign key (tenant_id, account_id) references ad_accounts (tenant_id, id) on delete cascade,
    foreign key (tenant_id, creative_version_id) references creative_versions (tenant_id, id)
        on delete set null (creative_version_id)
);
create index ad_objects_tenant_level_idx on ad_objects (tenant_id, platform, level, status);

create table ad_changes (
    id              uuid not null default gen_random_uuid() primary key,
    tenant_id       uuid not null references tenants(id) on delete cascade,
    account_id      uuid not null,
    object_id       uuid,
    kind            text not null check (kind in ('create_campaign', 'create_adset', 'create_ad', 'set_status',
                                                  'set_budget', 'publish_creative')),
    requested_by    text not null,        -- 'member:<sub>', 'agent:lucy:<run id>', 'rule:<id>'
    idempotency_key text not null check (length(idempotency_key) between 1 and 255),
    params          jsonb not null,
    before          jsonb,
    after           jsonb,
    status          text not null default 'proposed' check (status in
                    ('proposed', 'approved', 'rejected', 'applying', 'applied', 'failed', 'refused')),
    needs_approval  boolean not null default false,
    dry_run         jsonb,
    decided_by      text,
    decided_at      timestamptz,
    decision_note   text,
    error_code      text,
    error           text,
    attempts        int not null default 0,
    applied_at      timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, idempotency_key),
    foreign key (tenant_id, account_id) references ad_accounts (tenant_id, id) on delete cascade,
    foreign key (tenant_id, object_id) references ad_objects (tenant_id, id) on delete set null (object_id)
);
create index ad_changes_tenant_status_idx on ad_changes (tenant_id, status, created_at desc);
create index ad_changes_tenant_object_idx on ad_changes (tenant_id, object_id, created_at desc);

create table ad_metrics_daily (
    id                     uuid not null default gen_random_uuid() primary key,
    tenant_id              uuid not null references tenants(id) on delete cascade,
    account_id             uuid not null,
    platform               text not null check (platform in ('meta', 'google', 'tiktok')),
    level                  text not null check (level in ('campaign', 'adset', 'ad')),
    external_id            text not null,
    campaign_external_id   text,
    day                    date not null,
    impressions            bigint not null default 0 check (impressions >= 0),
    clicks                 bigint not null default 0 check (clicks >= 0),
    spend_minor            bigint not null default 0 check (spend_minor >= 0),
    conversions            numeric not null default 0 check (conversions >= 0),
    conversion_value_minor bigint not null default 0 check (conversion_value_minor >= 0),
    currency               text not null default 'BRL',
    raw                    jsonb not null default '{}'::jsonb,
    synced_at              timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, platform, level, external_id, day),
    foreign key (tenant_id, account_id) references ad_accounts (tenant_id, id) on delete cascade
);
create index ad_metrics_daily_tenant_day_idx on ad_metrics_daily (tenant_id, day, level);
create index ad_metrics_daily_tenant_campaign_idx on ad_metrics_daily (tenant_id, campaign_external_id, day);

create table ad_sync_runs (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    account_id  uuid not null,
    since       date not null,
    until       date not null,
    status      text not null default 'running' check (status in ('running', 'done', 'failed')),
    rows        int not null default 0,
    proposals   int not null default 0,
    error       text,
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    unique (tenant_id, id),
    foreign key (tenant_id, account_id) references ad_accounts (tenant_id, id) on delete cascade
);
create index ad_sync_runs_tenant_started_idx on ad_sync_runs (tenant_id, started_at desc);

create table ad_rules (
    id                uuid not null default gen_random_uuid() primary key,
    tenant_id         uuid not null references tenants(id) on delete cascade,
    name              text not null check (length(name) between 1 and 200),
    kind              text not null check (kind in ('stop_loss', 'scale_up', 'pause_no_delivery')),
    params            jsonb not null default '{}'::jsonb,
    platform          text check (platform in ('meta', 'google', 'tiktok')),
    active            boolean not null default true,
    last_evaluated_at timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (tenant_id, id)
);
create index ad_rules_tenant_active_idx on ad_rules (tenant_id, active);

create table lead_attribution (
    id                   uuid not null default gen_random_uuid() primary key,
    tenant_id            uuid not null references tenants(id) on delete cascade,
    lead_id              uuid not null,
    platform             text check (platform in ('meta', 'google', 'tiktok')),
    campaign_external_id text,
    adset_external_id    text,
    ad_external_id       text,
    click_id_kind        text check (click_id_kind in ('fbclid', 'gclid', 'ttclid', 'ctwa_clid', 'wbraid', 'gbraid')),
    click_id             text check (length(click_id) <= 512),
    utm                  jsonb not null default '{}'::jsonb,
    touch                text not null default 'first' check (touch in ('first')),
    source               text not null default 'api',   -- where we learnt it: api, widget, whatsapp_referral, …
    created_at           timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, lead_id),
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete cascade
);
create index lead_attribution_tenant_campaign_idx on lead_attribution (tenant_id, platform, campaign_external_id);

create table ad_conversions (
    id              uuid not null default gen_random_uuid() primary key,
    tenant_id       uuid not null references tenants(id) on delete cascade,
    account_id      uuid not null,
    platform        text not null check (platform in ('meta', 'google', 'tiktok')),
    event_id        text not null check (length(event_id) between 1 and 255),
    kind            text not null check (kind in ('purchase', 'lead')),
    source_event_id uuid,          -- our event_log id (payment.succeeded / deal.won / lead.created)
    lead_id         uuid,
    deal_id         uuid,
    value_minor     bigint not null default 0 check (value_minor >= 0),
    currency        text not null default 'BRL',
    occurred_at     timestamptz not null,
    identifiers     jsonb not null default '{}'::jsonb,   -- SHA-256 hashes and click ids only
    status          text not null default 'queued' check (status in ('queued', 'sent', 'failed', 'skipped')),
    attempts        int not null default 0,
    next_attempt_at timestamptz not null default now(),
    error_code      text,
    error           text,
    response        jsonb,
    sent_at         timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, platform, event_id),
    foreign key (tenant_id, account_id) references ad_accounts (tenant_id, id) on delete cascade,
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete set null (lead_id),
    foreign key (tenant_id, deal_id) references deals (tenant_id, id) on delete set null (deal_id)
);
create index ad_conversions_tenant_due_idx on ad_conversions (tenant_id, next_attempt_at) where status = 'queued';

do $$
declare
    t text;
begin
    foreach t in array array['ad_accounts', 'ad_policies', 'ad_objects', 'ad_changes', 'ad_metrics_daily',
                             'ad_sync_runs', 'ad_rules', 'lead_attribution', 'ad_conversions']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy tenant_isolation on %I using (tenant_id = (select app_tenant_id())) '
            'with check (tenant_id = (select app_tenant_id()))', t);
        execute format('grant select, insert, update, delete on %I to tridium_app', t);
    end loop;
end $$;
