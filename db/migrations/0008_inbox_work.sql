-- Which tenants the InboxWorker must look at on start and on each sweep: threads with an
-- active run a dead worker left, threads with pending messages, outbound rows still queued
-- or sending. Without it the worker opened one tenant transaction per tenant (3 queries
-- each) on every start and sweep, which grows with the number of tenants, not with work.
-- Same pattern as kb_tenants_with_pending (ADR 0005): a definer function owned by the
-- owner role, which reads through owner-only SELECT policies; it returns tenant ids only,
-- and no policy reaching tridium_app is widened.
create policy inbox_work_scan on threads for select to tridium_owner using (true);
create policy inbox_work_scan on outbound_deliveries for select to tridium_owner using (true);
create or replace function inbox_tenants_with_work() returns setof uuid
    language sql stable security definer set search_path = public
    as $$ select tenant_id from threads
          where active_run_id is not null or (pending_since is not null and status = 'bot')
          union
          select tenant_id from outbound_deliveries where status in ('queued', 'sending') $$;
revoke all on function inbox_tenants_with_work() from public;
grant execute on function inbox_tenants_with_work() to tridium_app;
