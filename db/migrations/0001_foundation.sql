-- 0001 foundation: tenants, memberships, idempotency, CRM/inbox, RAG, agents, payments,
-- events (outbox), audit and error logs. Every tenant-owned table has tenant_id, a
-- composite key (tenant_id, id) so foreign keys cannot cross tenants, an index led by
-- tenant_id for the RLS filter, and row-level security ENABLED and FORCED.
--
-- Runs as the owner role (tridium_owner). The application role (tridium_app) is granted
-- DML only; it owns nothing, is not superuser and has no BYPASSRLS. The relay role
-- (tridium_relay) may read event_log across tenants and mark rows published — nothing else.

-- gen_random_uuid() is core since PostgreSQL 13. pgvector is created by a superuser when
-- missing (tridium up does it for the embedded server; on Supabase enable it in the panel).
create extension if not exists vector;

-- Tenant context, NULL when unset. nullif: after a SET LOCAL ends, the GUC exists with ''.
create or replace function app_tenant_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;

create or replace function app_user_id() returns text
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.user_id', true), '') $$;

-- Platform table (no tenant_id): the tenant registry. The app may read it and create
-- tenants (sign-up, the RLS smoke test); tenant data hangs off it with ON DELETE CASCADE.
create table tenants (
    id            uuid primary key default gen_random_uuid(),
    slug          text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name          text not null,
    feature_flags jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now()
);

create table memberships (
    tenant_id  uuid not null references tenants(id) on delete cascade,
    user_id    text not null,
    email      text,
    role       text not null check (role in ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz not null default now(),
    primary key (tenant_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

create table idempotency_keys (
    tenant_id     uuid not null references tenants(id) on delete cascade,
    principal     text not null,
    key           text not null check (length(key) between 1 and 255),
    method        text not null,
    path          text not null,
    request_hash  text not null,
    status        text not null default 'in_flight' check (status in ('in_flight', 'done')),
    response_code int,
    response_body jsonb,
    locked_at     timestamptz not null default now(),
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null,
    primary key (tenant_id, principal, key)
);
create index idempotency_keys_expires_idx on idempotency_keys (tenant_id, expires_at);

-- CRM / inbox ------------------------------------------------------------------------

create table leads (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    name       text not null,
    phone      text,
    email      text,
    source     text,
    campaign   text,
    score      int not null default 0 check (score between 0 and 100),
    stage      text not null default 'new',
    meta       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, id)
);
create index leads_tenant_created_idx on leads (tenant_id, created_at desc, id desc);
create index leads_tenant_stage_idx on leads (tenant_id, stage);
create index leads_tenant_source_idx on leads (tenant_id, source);

create table threads (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    lead_id     uuid,
    channel     text not null check (channel in ('whatsapp', 'instagram', 'email', 'chat')),
    external_id text not null,
    status      text not null default 'open' check (status in ('open', 'handoff', 'closed')),
    created_at  timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, channel, external_id),
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete set null (lead_id)
);
create index threads_tenant_created_idx on threads (tenant_id, created_at desc, id desc);

create table messages (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    thread_id  uuid not null,
    direction  text not null check (direction in ('in', 'out')),
    sender     text not null,
    body       text not null,
    meta       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, thread_id) references threads (tenant_id, id) on delete cascade
);
create index messages_tenant_thread_idx on messages (tenant_id, thread_id, created_at, id);

create table deals (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    lead_id     uuid not null,
    title       text not null default '',
    value_cents bigint not null default 0 check (value_cents >= 0),
    stage       text not null default 'open' check (stage in ('open', 'won', 'lost')),
    won_at      timestamptz,
    meta        jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete cascade
);
create index deals_tenant_created_idx on deals (tenant_id, created_at desc, id desc);
create index deals_tenant_lead_idx on deals (tenant_id, lead_id);

-- RAG --------------------------------------------------------------------------------

create table kb_spaces (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    name        text not null,
    pii_masking boolean not null default false,
    created_at  timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, name)
);

create table kb_uploads (
    id             uuid not null default gen_random_uuid() primary key,
    tenant_id      uuid not null references tenants(id) on delete cascade,
    space_id       uuid not null,
    path           text not null,
    filename       text not null,
    status         text not null default 'queued'
                   check (status in ('queued', 'parsing', 'parsed', 'embedding', 'embedded', 'failed')),
    mime           text,
    bytes          bigint not null check (bytes >= 0),
    chunks_done    int not null default 0,
    chunks_total   int not null default 0,
    error          text,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, space_id) references kb_spaces (tenant_id, id) on delete cascade
);
create index kb_uploads_tenant_idx on kb_uploads (tenant_id, created_at desc);

create table kb_docs (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    space_id   uuid not null,
    upload_id  uuid,
    title      text not null,
    body       text,
    source     text,
    meta       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, space_id) references kb_spaces (tenant_id, id) on delete cascade,
    foreign key (tenant_id, upload_id) references kb_uploads (tenant_id, id) on delete set null (upload_id)
);
create index kb_docs_tenant_space_idx on kb_docs (tenant_id, space_id);

-- The vector dimension is not fixed: each row records its model and dimension, so a
-- model switch re-embeds side by side. ANN indexes are expression indexes per model.
create table kb_vectors (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    doc_id       uuid not null,
    chunk_index  int not null,
    chunk        text not null,
    page         int,
    char_start   int,
    char_end     int,
    content_hash text not null,
    model        text not null,
    dim          int not null,
    embedding    vector not null,
    created_at   timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, doc_id, model, chunk_index),
    foreign key (tenant_id, doc_id) references kb_docs (tenant_id, id) on delete cascade
);
create index kb_vectors_tenant_doc_idx on kb_vectors (tenant_id, doc_id);

-- Agents -----------------------------------------------------------------------------

create table agents (
    id                uuid not null default gen_random_uuid() primary key,
    tenant_id         uuid not null references tenants(id) on delete cascade,
    name              text not null check (name in ('luddy', 'lucy', 'clio')),
    role              text not null default '',
    tools             jsonb not null default '[]'::jsonb,
    guardrails        jsonb not null default '{}'::jsonb,
    prompt_version_id uuid,
    created_at        timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, name)
);

create table prompt_versions (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    agent_id   uuid not null,
    version    int not null,
    text       text not null,
    ab_bucket  text not null default 'A',
    weight     numeric not null default 1 check (weight >= 0),
    active     boolean not null default true,
    created_at timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, agent_id, version),
    foreign key (tenant_id, agent_id) references agents (tenant_id, id) on delete cascade
);
create index prompt_versions_tenant_agent_idx on prompt_versions (tenant_id, agent_id);

alter table agents add foreign key (tenant_id, prompt_version_id)
    references prompt_versions (tenant_id, id) on delete set null (prompt_version_id)
    deferrable initially deferred;

create table agent_runs (
    id                uuid not null default gen_random_uuid() primary key,
    tenant_id         uuid not null references tenants(id) on delete cascade,
    agent_id          uuid not null,
    thread_id         uuid,
    status            text not null default 'running',
    input             text not null,
    output            text,
    sources           jsonb not null default '[]'::jsonb,
    tool_calls        jsonb not null default '[]'::jsonb,
    tokens_in         int not null default 0,
    tokens_out        int not null default 0,
    cost              numeric not null default 0,
    latency_ms        int,
    model             text,
    prompt_version_id uuid,
    ab_bucket         text,
    created_at        timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, id) on delete cascade,
    foreign key (tenant_id, thread_id) references threads (tenant_id, id) on delete set null (thread_id)
);
create index agent_runs_tenant_agent_idx on agent_runs (tenant_id, agent_id, created_at desc);

-- Payments ---------------------------------------------------------------------------

create table invoices (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    provider     text not null default 'asaas',
    external_id  text,
    deal_id      uuid,
    lead_id      uuid,
    method       text,
    amount_cents bigint not null check (amount_cents > 0),
    status       text not null,
    url          text,
    meta         jsonb not null default '{}'::jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, provider, external_id),
    foreign key (tenant_id, deal_id) references deals (tenant_id, id) on delete set null (deal_id),
    foreign key (tenant_id, lead_id) references leads (tenant_id, id) on delete set null (lead_id)
);
create index invoices_tenant_status_idx on invoices (tenant_id, status, created_at);

create table payments (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    invoice_id  uuid not null,
    status      text not null,
    raw         jsonb not null default '{}'::jsonb,
    occurred_at timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id) on delete cascade
);
create index payments_tenant_invoice_idx on payments (tenant_id, invoice_id);

create table asaas_events (
    id           bigserial primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    event_id     text not null,
    event_type   text not null,
    payload      jsonb not null,
    received_at  timestamptz not null default now(),
    processed_at timestamptz,
    unique (tenant_id, event_id)
);
create index asaas_events_unprocessed_idx on asaas_events (tenant_id, received_at) where processed_at is null;

-- Events, audit, errors --------------------------------------------------------------

-- The outbox: written in the same transaction as the change it describes.
create table event_log (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    type         text not null,
    payload      jsonb not null default '{}'::jsonb,
    request_id   text,
    created_at   timestamptz not null default now(),
    published_at timestamptz
);
create index event_log_tenant_created_idx on event_log (tenant_id, created_at);
create index event_log_unpublished_idx on event_log (created_at) where published_at is null;

-- Consumer-side dedupe: a consumer's effect and its processed marker commit together.
create table processed_events (
    tenant_id    uuid not null references tenants(id) on delete cascade,
    consumer     text not null,
    event_id     uuid not null,
    processed_at timestamptz not null default now(),
    primary key (tenant_id, consumer, event_id)
);

create table audit_logs (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    actor      text not null,
    action     text not null,
    target     text,
    meta       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);
create index audit_logs_tenant_created_idx on audit_logs (tenant_id, created_at);

create table error_logs (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    source     text not null,
    code       text not null,
    message    text not null,
    payload    jsonb,
    created_at timestamptz not null default now()
);
create index error_logs_tenant_created_idx on error_logs (tenant_id, created_at);

-- Row-level security: enabled and FORCED on every table with tenant_id --------------

do $$
declare
    t text;
begin
    for t in
        select c.table_name from information_schema.columns c
        join information_schema.tables tb using (table_schema, table_name)
        where c.table_schema = 'public' and c.column_name = 'tenant_id' and tb.table_type = 'BASE TABLE'
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        if t <> 'memberships' then
            execute format(
                'create policy tenant_isolation on %I using (tenant_id = (select app_tenant_id())) '
                'with check (tenant_id = (select app_tenant_id()))', t);
        end if;
        execute format('grant select, insert, update, delete on %I to tridium_app', t);
    end loop;
end $$;

-- A principal may list its own memberships across tenants (GET /me, tenant resolution);
-- writes still need the tenant context.
create policy tenant_isolation on memberships
    using (tenant_id = (select app_tenant_id()) or user_id = (select app_user_id()))
    with check (tenant_id = (select app_tenant_id()));

create policy relay_read on event_log for select to tridium_relay using (true);
create policy relay_mark on event_log for update to tridium_relay using (true) with check (true);

grant usage on schema public to tridium_app, tridium_relay;
grant select, insert, delete on tenants to tridium_app;
grant update (name, feature_flags) on tenants to tridium_app;
grant usage, select on all sequences in schema public to tridium_app;
grant select, update (published_at) on event_log to tridium_relay;
grant execute on function app_tenant_id(), app_user_id() to tridium_app, tridium_relay;
