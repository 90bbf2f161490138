-- 0016 one round trip per Asaas webhook delivery (ADR 0008).
--
-- A delivery used to cost four Postgres round trips inside db.pool.tenant_tx (BEGIN,
-- set_config, the insert CTE, COMMIT) plus the connection reset on release. This
-- function does the same work in one statement, run by the gateway in autocommit mode:
-- the statement's implicit transaction commits (synchronous_commit on: WAL flushed)
-- before Postgres answers, so the gateway still acknowledges only a durable event.
--
-- SECURITY INVOKER on purpose: it runs as tridium_app, under forced RLS, and sets the
-- tenant context itself, transaction-locally (set_config(..., true)), exactly like
-- tenant_tx; the setting dies with the statement's transaction. No policy is widened
-- and nothing here reaches another tenant's rows: every statement names p_tenant_id and
-- RLS checks it. search_path is fixed (pg_catalog, public) so no caller's schema can
-- shadow a table or function it uses. The token check compares SHA-256 digests of the token (the secret
-- itself never reaches the database); a digest comparison leaks nothing usable about the
-- token. A wrong token writes nothing.
--
-- Returns 'stored' (raw event + outbox event written, NOTIFY sent), 'duplicate' (the
-- tenant already has this Asaas event id: nothing written) or 'unauthorized'.
create function asaas_ingest_event(
    p_tenant_id uuid,
    p_token_hash text,
    p_event_id text,
    p_event_type text,
    p_payment_id text,
    p_payload jsonb,
    p_request_id text,
    p_outbox_type text,
    p_outbox_channel text
) returns text
    language plpgsql volatile security invoker
    set search_path = pg_catalog, public
    as $$
declare
    v_hash text;
    v_id   bigint;
begin
    perform set_config('app.tenant_id', p_tenant_id::text, true),
            set_config('synchronous_commit', 'on', true);
    select i.webhook_token_hash into v_hash from public.integrations i
     where i.tenant_id = p_tenant_id and i.provider = 'asaas';
    if v_hash is null or p_token_hash is null or v_hash <> p_token_hash then
        return 'unauthorized';
    end if;
    insert into public.asaas_events (tenant_id, event_id, event_type, payment_id, payload)
    values (p_tenant_id, p_event_id, p_event_type, p_payment_id, p_payload)
    on conflict (tenant_id, event_id) do nothing
    returning id into v_id;
    if v_id is null then
        return 'duplicate';
    end if;
    insert into public.event_log (tenant_id, type, payload, request_id)
    values (p_tenant_id, p_outbox_type,
            jsonb_build_object('asaas_event', v_id, 'event_id', p_event_id,
                               'event', p_event_type, 'payment_id', p_payment_id),
            p_request_id);
    perform pg_notify(p_outbox_channel, '');
    return 'stored';
end $$;
revoke all on function asaas_ingest_event(uuid, text, text, text, text, jsonb, text, text, text) from public;
grant execute on function asaas_ingest_event(uuid, text, text, text, text, jsonb, text, text, text) to tridium_app;
