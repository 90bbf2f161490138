-- 0005 agents: runtime knobs per agent, the tool-call ledger (side effects run once),
-- agent-to-agent messages, creatives with versions and approvals, and conversions that
-- Lucy attributes to a lead's source/campaign. Same rules as 0001: tenant_id on every
-- table, unique (tenant_id, id), composite foreign keys, an index led by tenant_id, RLS
-- enabled and FORCED with the tenant_isolation policy, DML grants to tridium_app.
--
-- Conversation memory lives in the existing threads/messages tables (one CRM thread per
-- conversation; messages carry meta.agent and meta.run_id). Run events are buffered in
-- Redis streams with a TTL (see actors/events.py), not here.

-- Runtime knobs that are not guardrails: model choice (auto|offline|openai), typing delay.
alter table agents add column settings jsonb not null default '{}'::jsonb;

alter table agent_runs add column error text;
alter table agent_runs add column finished_at timestamptz;
alter table agent_runs add constraint agent_runs_status_check
    check (status in ('running', 'completed', 'failed', 'cancelled', 'interrupted'));
create index agent_runs_tenant_thread_idx on agent_runs (tenant_id, thread_id, created_at desc);

-- One row per side-effecting tool execution, keyed by an idempotency key derived from the
-- run and the call (or given by the HTTP caller): a retry finds the row and replays it.
create table tool_invocations (
    id              uuid not null default gen_random_uuid() primary key,
    tenant_id       uuid not null references tenants(id) on delete cascade,
    agent           text not null check (agent in ('luddy', 'lucy', 'clio')),
    tool            text not null,
    idempotency_key text not null,
    run_id          uuid,
    args            jsonb not null default '{}'::jsonb,
    result          jsonb,
    created_at      timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, tool, idempotency_key),
    foreign key (tenant_id, run_id) references agent_runs (tenant_id, id) on delete set null (run_id)
);
create index tool_invocations_tenant_created_idx on tool_invocations (tenant_id, created_at desc);

create table agent_messages (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    from_agent   text not null,
    to_agent     text not null check (to_agent in ('luddy', 'lucy', 'clio')),
    kind         text not null check (kind in ('ask', 'tell', 'event')),
    body         jsonb not null default '{}'::jsonb,
    reply        jsonb,
    status       text not null default 'pending' check (status in ('pending', 'done', 'failed')),
    event_id     uuid,
    created_at   timestamptz not null default now(),
    processed_at timestamptz,
    unique (tenant_id, id)
);
create index agent_messages_tenant_to_idx on agent_messages (tenant_id, to_agent, created_at desc);
create unique index agent_messages_event_idx on agent_messages (tenant_id, to_agent, event_id)
    where event_id is not null;

create table creatives (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    name       text not null,
    audience   text not null,
    angle      text not null,
    campaign   text,
    deal_id    uuid,
    status     text not null default 'active' check (status in ('active', 'winner', 'archived')),
    meta       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, deal_id) references deals (tenant_id, id) on delete set null (deal_id)
);
create index creatives_tenant_created_idx on creatives (tenant_id, created_at desc);
create index creatives_tenant_campaign_idx on creatives (tenant_id, campaign);

create table creative_versions (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    creative_id uuid not null,
    version     int not null,
    headline    text not null,
    body        text not null,
    sources     jsonb not null default '[]'::jsonb,
    approval    text not null default 'pending' check (approval in ('pending', 'approved', 'rejected')),
    run_id      uuid,
    created_at  timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, creative_id, version),
    foreign key (tenant_id, creative_id) references creatives (tenant_id, id) on delete cascade,
    foreign key (tenant_id, run_id) references agent_runs (tenant_id, id) on delete set null (run_id)
);
create index creative_versions_tenant_creative_idx on creative_versions (tenant_id, creative_id);

-- Lucy's attribution of a won deal to the lead's source/campaign (one per deal).
create table attributed_conversions (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    deal_id     uuid not null,
    lead_id     uuid,
    source      text,
    campaign    text,
    value_cents bigint not null default 0 check (value_cents >= 0),
    created_at  timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, deal_id),
    foreign key (tenant_id, deal_id) references deals (tenant_id, id) on delete cascade,
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete set null (lead_id)
);
create index attributed_conversions_tenant_source_idx on attributed_conversions (tenant_id, source, campaign);

do $$
declare
    t text;
begin
    foreach t in array array['tool_invocations', 'agent_messages', 'creatives', 'creative_versions',
                             'attributed_conversions']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy tenant_isolation on %I using (tenant_id = (select app_tenant_id())) '
            'with check (tenant_id = (select app_tenant_id()))', t);
        execute format('grant select, insert, update, delete on %I to tridium_app', t);
    end loop;
end $$;
