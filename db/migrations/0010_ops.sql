-- 0010 ops: the read-only auditor role (conversation replay with PII masked), the version
-- of the price table each run's cost was computed with, and per-tenant monthly AI budgets.
-- Same rules as 0001: tenant_id on the new table, an index led by tenant_id, RLS enabled
-- and FORCED with the tenant_isolation policy, DML grants to tridium_app.

-- auditor: reads (replay, costs) and writes nothing.
alter table memberships drop constraint memberships_role_check;
alter table memberships add constraint memberships_role_check
    check (role in ('owner', 'admin', 'member', 'viewer', 'auditor'));

-- cost stays in agent_runs.cost (USD); price_version names the price table that priced it.
alter table agent_runs add column price_version text;
create index agent_runs_tenant_created_idx on agent_runs (tenant_id, created_at) include (cost);

-- One budget per tenant. warned_month is the first day of the month whose 80 % event was
-- written, so the event goes out once per month (a conditional update claims it).
create table ai_budgets (
    tenant_id         uuid not null primary key references tenants(id) on delete cascade,
    monthly_limit_usd numeric not null check (monthly_limit_usd >= 0),
    on_exceed         text not null default 'refuse' check (on_exceed in ('refuse', 'offline')),
    warned_month      date,
    updated_by        text not null default '',
    updated_at        timestamptz not null default now()
);

alter table ai_budgets enable row level security;
alter table ai_budgets force row level security;
create policy tenant_isolation on ai_budgets using (tenant_id = (select app_tenant_id()))
    with check (tenant_id = (select app_tenant_id()));
grant select, insert, update, delete on ai_budgets to tridium_app;
