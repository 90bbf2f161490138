-- 0006 fidelity: byte-exact idempotent replays, and thread ids a client may choose.
--
-- Idempotency: a replay must be the first response, byte for byte. 0001 kept the body as
-- jsonb, which reorders keys and re-encodes numbers on the way back; the exact bytes and
-- the representation headers (content-type) now travel with the key. response_body stays
-- for rows written before this migration (replayed as before) and is no longer written.
alter table idempotency_keys add column response_bytes bytea;
alter table idempotency_keys add column response_headers jsonb;

-- Threads: a front end creates a chat id locally and starts the conversation with it.
-- 0001 made threads.id globally unique, so a client-chosen id that another tenant already
-- holds would fail on the primary key — an existence oracle across tenants. Ids are now
-- unique per tenant, like all tenant data (every foreign key to threads is already the
-- composite (tenant_id, id), so nothing else changes): the same uuid in two tenants names
-- two unrelated threads, and neither tenant can tell the other exists.
alter table threads drop constraint threads_pkey;
alter table threads add constraint threads_pkey primary key (tenant_id, id);
