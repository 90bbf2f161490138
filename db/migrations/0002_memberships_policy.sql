-- 0002: a principal may READ its own memberships without tenant context (GET /me, tenant
-- resolution), but changing memberships needs the tenant context. 0001's single policy
-- applied its principal clause to every command, so a member could delete (leave) or
-- update their membership in any tenant from a principal-only transaction.
drop policy tenant_isolation on memberships;

create policy tenant_isolation on memberships
    using (tenant_id = (select app_tenant_id()))
    with check (tenant_id = (select app_tenant_id()));

create policy own_memberships_read on memberships for select
    using (user_id = (select app_user_id()));
