-- 0014 ads KPIs (tools/ads/kpi.py, docs/ads.md "KPIs and insights sync"): the report joins a
-- lead's attributed ad (platform + external id, any account) to ad_objects for its creative
-- version, and labels campaigns by (platform, external id). The unique key of ad_objects is
-- per account, so neither lookup could use it; this index serves both.
create index ad_objects_tenant_platform_external_idx on ad_objects (tenant_id, platform, level, external_id);
