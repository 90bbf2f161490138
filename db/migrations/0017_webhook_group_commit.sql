-- 0017 group commit for Asaas webhook deliveries (ADR 0010).
--
-- asaas_ingest_event (0016) costs one statement, one commit and one WAL flush per
-- delivery. Under load the gateway/listener now hands the deliveries that arrive while a
-- previous batch is in flight to this function together: the same checks and writes, item
-- by item, in ONE statement whose implicit transaction commits (WAL flushed) before
-- Postgres answers, so every delivery of the batch is durable before any of them is
-- acknowledged. One NOTIFY per batch instead of one per event.
--
-- Same security shape as 0016: SECURITY INVOKER (runs as tridium_app under forced RLS),
-- fixed search_path, EXECUTE for tridium_app only. Before each item it sets app.tenant_id
-- transaction-locally to that item's tenant, and every statement names the same tenant, so
-- RLS checks each row against its own tenant; the setting is cleared before returning and
-- dies with the transaction anyway. A batch may mix tenants; an item with a wrong token
-- writes nothing and does not stop the others.
--
-- Items are written in (tenant, event id) order, whatever their order in the arrays: two
-- batches holding the same event ids (a provider's retries racing) then take the unique
-- index's locks in the same order and wait for each other instead of deadlocking.
--
-- Returns one outcome per item, in the arrays' order: 'stored', 'duplicate' (that tenant already had
-- the event id, possibly from an earlier item of the same batch) or 'unauthorized'. Any
-- error (a payload that is not JSON, arrays of different lengths) aborts the whole batch
-- and nothing of it is written; the caller then stores the items one by one (0016) so one
-- bad item cannot fail the others.
create function asaas_ingest_events(
    p_tenant_ids uuid[],
    p_token_hashes text[],
    p_event_ids text[],
    p_event_types text[],
    p_payment_ids text[],
    p_payloads text[],
    p_request_ids text[],
    p_outbox_type text,
    p_outbox_channel text
) returns text[]
    language plpgsql volatile security invoker
    set search_path = pg_catalog, public
    as $$
declare
    v_n      int := coalesce(cardinality(p_event_ids), 0);
    v_out    text[];
    v_hash   text;
    v_id     bigint;
    v_stored boolean := false;
    i        int;
begin
    if v_n > 1000 then
        raise exception 'asaas_ingest_events: at most 1000 items per call, got %', v_n;
    end if;
    if coalesce(cardinality(p_tenant_ids), 0) <> v_n or coalesce(cardinality(p_token_hashes), 0) <> v_n
       or coalesce(cardinality(p_event_types), 0) <> v_n or coalesce(cardinality(p_payment_ids), 0) <> v_n
       or coalesce(cardinality(p_payloads), 0) <> v_n or coalesce(cardinality(p_request_ids), 0) <> v_n then
        raise exception 'asaas_ingest_events: the item arrays differ in length';
    end if;
    perform set_config('synchronous_commit', 'on', true);
    v_out := array_fill(null::text, array[v_n]);
    for i in select t.ord from unnest(p_tenant_ids, p_event_ids) with ordinality as t(tid, eid, ord)
              order by t.tid, t.eid, t.ord loop
        perform set_config('app.tenant_id', p_tenant_ids[i]::text, true);
        select ig.webhook_token_hash into v_hash from public.integrations ig
         where ig.tenant_id = p_tenant_ids[i] and ig.provider = 'asaas';
        if v_hash is null or p_token_hashes[i] is null or v_hash <> p_token_hashes[i] then
            v_out[i] := 'unauthorized';
            continue;
        end if;
        insert into public.asaas_events (tenant_id, event_id, event_type, payment_id, payload)
        values (p_tenant_ids[i], p_event_ids[i], p_event_types[i], p_payment_ids[i], p_payloads[i]::jsonb)
        on conflict (tenant_id, event_id) do nothing
        returning id into v_id;
        if v_id is null then
            v_out[i] := 'duplicate';
            continue;
        end if;
        insert into public.event_log (tenant_id, type, payload, request_id)
        values (p_tenant_ids[i], p_outbox_type,
                jsonb_build_object('asaas_event', v_id, 'event_id', p_event_ids[i],
                                   'event', p_event_types[i], 'payment_id', p_payment_ids[i]),
                p_request_ids[i]);
        v_stored := true;
        v_out[i] := 'stored';
    end loop;
    perform set_config('app.tenant_id', '', true);
    if v_stored then
        perform pg_notify(p_outbox_channel, '');
    end if;
    return v_out;
end $$;
revoke all on function asaas_ingest_events(uuid[], text[], text[], text[], text[], text[], text[], text, text) from public;
grant execute on function asaas_ingest_events(uuid[], text[], text[], text[], text[], text[], text[], text, text)
    to tridium_app;
