-- 0011 privacy: LGPD data-subject requests (Lei 13.709/2018, Art. 18), see docs/privacy.md.
-- Same rules as 0001: tenant_id, unique (tenant_id, id), an index led by tenant_id, RLS
-- enabled and FORCED with the tenant_isolation policy, DML grants to tridium_app.
--
-- The subject's identifiers (normalised e-mail / phone / CPF) live in `subject` only while
-- the request runs: the worker needs them to find the rows. When the request finishes they
-- are cleared; what stays is `subject_hashes` (HMAC-SHA256 of each identifier with a server
-- key, so a later erase can find earlier export bundles of the same person and a repeated
-- erase can be recognised) and `identifier_kinds` (which kinds were given, e.g. {email,cpf}).
-- `footprint` keeps the ids (uuids only) of the rows found, so a retried erase still knows
-- rows it already anonymised and can no longer find by identifier.
-- An export's `result` is the bundle itself (personal data, by design: it is the answer to
-- the subject's access request); an erase of the same subject deletes those rows.

create table privacy_requests (
    id               uuid not null default gen_random_uuid() primary key,
    tenant_id        uuid not null references tenants(id) on delete cascade,
    kind             text not null check (kind in ('export', 'erase')),
    status           text not null default 'queued' check (status in ('queued', 'running', 'done', 'failed')),
    subject          jsonb,
    subject_hashes   text[] not null default '{}',
    identifier_kinds text[] not null default '{}',
    requested_by     text not null,
    footprint        jsonb not null default '{}'::jsonb,
    progress         jsonb not null default '{"done": 0, "total": 0, "step": null}'::jsonb,
    result           jsonb,
    error            text,
    attempts         int not null default 0,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    finished_at      timestamptz,
    unique (tenant_id, id)
);
create index privacy_requests_tenant_created_idx on privacy_requests (tenant_id, created_at desc);
create index privacy_requests_tenant_hashes_idx on privacy_requests using gin (subject_hashes);

alter table privacy_requests enable row level security;
alter table privacy_requests force row level security;
create policy tenant_isolation on privacy_requests using (tenant_id = (select app_tenant_id()))
    with check (tenant_id = (select app_tenant_id()));
grant select, insert, update, delete on privacy_requests to tridium_app;
