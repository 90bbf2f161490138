-- 0004 payments: the Asaas integration of each tenant, and the columns reconciliation needs
-- on invoices (= checkout intents), payments and asaas_events. Same rules as 0001:
-- tenant_id, unique (tenant_id, id), an index led by tenant_id, RLS enabled and FORCED with
-- the tenant_isolation policy, DML grants to tridium_app.
--
-- Webhook authentication (docs/adr/0004-webhook-tenant-from-token.md): the token Asaas
-- echoes as `asaas-access-token` is `tdm1.<tenant uuid>.<secret>`. The gateway reads the
-- tenant id from it, opens that tenant's transaction (RLS as usual) and compares the SHA-256
-- of the whole token with `webhook_token_hash` in constant time. No role, function or
-- policy can read integrations across tenants.

create table integrations (
    id                 uuid not null default gen_random_uuid() primary key,
    tenant_id          uuid not null references tenants(id) on delete cascade,
    provider           text not null check (provider in ('asaas')),
    base_url           text not null check (base_url ~ '^https?://'),
    -- Where the API key lives, never the key: 'sandbox' (the local simulator's public
    -- key) or 'env:NAME' (an environment variable of the gateway and workers).
    api_key_ref        text not null check (api_key_ref = 'sandbox' or api_key_ref ~ '^env:[A-Z_][A-Z0-9_]*$'),
    webhook_token_hash text check (webhook_token_hash ~ '^[0-9a-f]{64}$'),
    webhook_id         text,
    webhook_url        text,
    webhook_send_type  text check (webhook_send_type in ('SEQUENTIALLY', 'NON_SEQUENTIALLY')),
    webhook_events     jsonb not null default '[]'::jsonb,
    -- follow_up: emit payment.overdue for Luddy; asaas_dunning: also ask Asaas to start
    -- a dunning (negativação) when a payment becomes OVERDUE.
    dunning_policy     jsonb not null default '{"follow_up": true, "asaas_dunning": false}'::jsonb,
    last_reconciled_at timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, provider)
);

-- Invoices are the checkout intents: id = intentId = Asaas externalReference.
alter table invoices add column customer_id text;
alter table invoices add column due_date date;
alter table invoices add column paid_at timestamptz;

-- One row per Asaas payment (recorded once), kept at its highest-precedence status.
alter table payments add column external_id text;
alter table payments add column status_rank int not null default 0;
alter table payments add column billing_type text;
alter table payments add column value_cents bigint;
alter table payments add column net_value_cents bigint;
alter table payments add column paid_at timestamptz;
alter table payments add column updated_at timestamptz not null default now();
create unique index payments_tenant_external_idx on payments (tenant_id, external_id);

alter table asaas_events add column payment_id text;
alter table asaas_events add column outcome text;
create index asaas_events_tenant_payment_idx on asaas_events (tenant_id, payment_id);

alter table integrations enable row level security;
alter table integrations force row level security;
create policy tenant_isolation on integrations
    using (tenant_id = (select app_tenant_id()))
    with check (tenant_id = (select app_tenant_id()));
grant select, insert, update, delete on integrations to tridium_app;
