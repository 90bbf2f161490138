-- 0003 knowledge: hybrid search columns, ingestion bookkeeping, reindex jobs.
--
-- * Full text: a generated tsvector on kb_vectors with the `portuguese` configuration over
--   unaccented text (heading context + chunk), GIN-indexed. unaccent() is only STABLE, so a
--   generated column needs an IMMUTABLE wrapper that names its dictionary explicitly.
-- * kb_vectors.space_id (denormalised from kb_docs) so a space filter needs no join in the
--   vector leg; kb_vectors.context keeps the heading path the chunk was embedded with.
-- * kb_docs.embed_model: the model whose rows are the document's current chunks. A model
--   switch writes the new rows side by side and flips this in the same transaction that
--   deletes the old rows, so every document always has one complete set of chunks.
-- * rag_jobs: POST /rag/build and `python -m knowledge.reindex` progress.
-- ANN indexes (HNSW per model, on an expression cast to the model's dimension) are created
-- by the index policy (knowledge.index_policy), not here: they depend on the model in use.

-- unaccent is a trusted extension: the database owner may create it.
create extension if not exists unaccent;

create or replace function kb_unaccent(text) returns text
    language sql immutable parallel safe strict
    as $$ select public.unaccent('public.unaccent'::regdictionary, $1) $$;

grant execute on function kb_unaccent(text) to tridium_app;

alter table kb_vectors add column space_id uuid;
alter table kb_vectors add column context text not null default '';
alter table kb_vectors add column tsv tsvector generated always as (
    to_tsvector('portuguese'::regconfig, kb_unaccent(context || ' ' || chunk))
) stored;
alter table kb_vectors add foreign key (tenant_id, space_id) references kb_spaces (tenant_id, id) on delete cascade;
update kb_vectors v set space_id = d.space_id from kb_docs d where d.tenant_id = v.tenant_id and d.id = v.doc_id;
create index kb_vectors_tsv_idx on kb_vectors using gin (tsv);
create index kb_vectors_tenant_model_idx on kb_vectors (tenant_id, model, space_id);

alter table kb_docs add column embed_model text;
alter table kb_docs add column kind text;
alter table kb_docs add column page_count int;
alter table kb_docs add column chunk_count int not null default 0;
alter table kb_docs add column updated_at timestamptz not null default now();
-- One document per upload is kept by the ingestion claim (one runner at a time), not by a
-- unique index: a document may also be re-attached to another upload record.
create index kb_docs_upload_idx on kb_docs (tenant_id, upload_id) where upload_id is not null;

alter table kb_uploads add column attempts int not null default 0;
alter table kb_uploads add column kind text;
alter table kb_uploads add column sha256 text;
alter table kb_uploads add column title text;
alter table kb_uploads add column started_at timestamptz;
alter table kb_uploads add column finished_at timestamptz;
-- The sweeper's scan: queued (or stuck) uploads, oldest first, across tenants is done per
-- tenant by the app role (RLS); this index serves both.
create index kb_uploads_tenant_status_idx on kb_uploads (tenant_id, status, updated_at);

create table rag_jobs (
    id          uuid not null default gen_random_uuid() primary key,
    tenant_id   uuid not null references tenants(id) on delete cascade,
    space_id    uuid,
    doc_id      uuid,
    status      text not null default 'queued' check (status in ('queued', 'running', 'done', 'failed')),
    docs_total  int not null default 0,
    docs_done   int not null default 0,
    chunks_done int not null default 0,
    model       text,
    error       text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    finished_at timestamptz,
    unique (tenant_id, id),
    foreign key (tenant_id, space_id) references kb_spaces (tenant_id, id) on delete cascade,
    foreign key (tenant_id, doc_id) references kb_docs (tenant_id, id) on delete set null (doc_id)
);
create index rag_jobs_tenant_created_idx on rag_jobs (tenant_id, created_at desc);

alter table rag_jobs enable row level security;
alter table rag_jobs force row level security;
create policy tenant_isolation on rag_jobs using (tenant_id = (select app_tenant_id()))
    with check (tenant_id = (select app_tenant_id()));
grant select, insert, update, delete on rag_jobs to tridium_app;

-- Which tenants have queued work: the sweeper (app role) must find them without a tenant
-- context, and RLS rightly hides kb_uploads then. This definer function (owned by the
-- owner role, which RLS also binds: FORCE) reveals only tenant ids with uploads queued or
-- stuck in a running state for longer than the grace (running states: 10x the grace);
-- the owner-only SELECT policy below is what lets it see them. No policy reaching
-- tridium_app is widened.
create policy kb_pending_scan on kb_uploads for select to tridium_owner using (true);
create or replace function kb_tenants_with_pending(grace interval) returns setof uuid
    language sql stable security definer set search_path = public
    as $$ select distinct tenant_id from kb_uploads
          where (status = 'queued' and updated_at < now() - grace)
             or (status in ('parsing', 'parsed', 'embedding') and updated_at < now() - grace * 10) $$;
revoke all on function kb_tenants_with_pending(interval) from public;
grant execute on function kb_tenants_with_pending(interval) to tridium_app;

-- Full-text candidates for hybrid search. Under RLS, Postgres evaluates the tenant policy
-- before any non-LEAKPROOF qual, and `@@` is not leakproof: the GIN index on tsv can never
-- be used by the app role and every search would rank all of the tenant's matching rows.
-- This definer function (owner; the owner-only SELECT policy lets it read) filters by the
-- same app_tenant_id() the policy uses, so it returns nothing without a tenant context and
-- only the current tenant's rows with one. `budget` bounds the rows ranked (like
-- hnsw.max_scan_tuples): a query of common words matches a large share of a big tenant;
-- rare terms (codes, names) have short posting lists and are always ranked in full.
create policy kb_fts_scan on kb_vectors for select to tridium_owner using (true);

create or replace function kb_fts_candidates(query_text text, model_name text, space uuid, n int, budget int)
    returns table (id uuid, rnk bigint)
    language sql stable security definer set search_path = public
    as $$
    with q as (
        select to_tsquery('portuguese', string_agg(quote_literal(lexeme), ' | ')) as q
        from unnest(to_tsvector('portuguese', kb_unaccent(query_text))) as t(lexeme, positions, weights)
    ),
    matched as (
        select v.id, v.tsv from kb_vectors v, q
        where v.tenant_id = app_tenant_id() and v.model = model_name and q.q is not null and v.tsv @@ q.q
          and (space is null or v.space_id = space)
        limit budget
    )
    select m.id, row_number() over (order by ts_rank(m.tsv, q.q) desc, m.id)
    from matched m, q
    order by ts_rank(m.tsv, q.q) desc, m.id
    limit n
    $$;
revoke all on function kb_fts_candidates(text, text, uuid, int, int) from public;
grant execute on function kb_fts_candidates(text, text, uuid, int, int) to tridium_app;
