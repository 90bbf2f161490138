"""The local ad-platform sandboxes of ``tridium up`` and the demo tenant's ad accounts.

``tridium up`` starts the Meta Marketing/Conversions API, Google Ads API and TikTok
Marketing API sandboxes (``tools.ads.<platform>.sandbox``: simulators — never the real
platforms) as child processes on ``TRIDIUM_META_ADS_SANDBOX_PORT`` (8095),
``TRIDIUM_GOOGLE_ADS_SANDBOX_PORT`` (8096) and ``TRIDIUM_TIKTOK_ADS_SANDBOX_PORT`` (8097) —
a free port when one is taken — and stops them with the rest. Then each sandbox gets a demo
ad account and the demo tenant the matching ``ad_accounts`` row (``tools.ads.accounts.
provision``: tokens sealed, only hints shown) pointing at it. Re-running is idempotent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool, tenant_tx
from db.tenants import get_tenant_by_slug

from .sandboxes import SandboxProcess, port_or_free

# The demo accounts (sandbox ids and tokens: not secrets of anything real).
META_ACCOUNT, META_TOKEN, META_PIXEL, META_PAGE, META_WABA = (
    "100000000000001",
    "EAAB-sandbox-demo-token",
    "555000111",
    "100200300",
    "102290129340398",
)
GOOGLE_CUSTOMER, GOOGLE_TOKEN, GOOGLE_DEV_TOKEN, GOOGLE_ACTION = (
    "1234567890",
    "ya29.sandbox-demo-token",
    "sandbox-dev-token",
    "7001",
)
TIKTOK_ADVERTISER, TIKTOK_TOKEN, TIKTOK_PIXEL = ("7000000000000000001", "tt-sandbox-token", "CSANDBOXPIXEL01")

_MODULES = {
    "meta": ("Meta ads", "tools.ads.meta.sandbox"),
    "google": ("Google Ads", "tools.ads.google.sandbox"),
    "tiktok": ("TikTok ads", "tools.ads.tiktok.sandbox"),
}


def ads_sandboxes(settings: Settings, data_dir: Path, host: str = "127.0.0.1") -> dict[str, SandboxProcess]:
    """The three ad sandboxes (not started), by platform."""
    ports = {
        "meta": settings.meta_ads_sandbox_port,
        "google": settings.google_ads_sandbox_port,
        "tiktok": settings.tiktok_ads_sandbox_port,
    }
    out: dict[str, SandboxProcess] = {}
    for platform, wanted in ports.items():
        name, module = _MODULES[platform]
        port = port_or_free(name, host, wanted)
        url = f"http://{host}:{port}"
        out[platform] = SandboxProcess(
            name,
            module,
            ["--host", host, "--port", str(port), "--log-level", "warning"],
            url + "/",
            data_dir / f"{platform}-ads-sandbox.log",
            url,
            any_status=True,  # no health route: any HTTP answer means it is listening
        )
    return out


def _sandbox_account(platform: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], str]:
    """(sandbox registration body, our account config, our secrets, external id)."""
    if platform == "meta":
        return (
            {"ad_account_id": META_ACCOUNT, "access_token": META_TOKEN, "pixel_id": META_PIXEL,
             "page_id": META_PAGE, "waba_id": META_WABA},
            {"pixel_id": META_PIXEL, "page_id": META_PAGE, "waba_id": META_WABA},
            {"access_token": META_TOKEN},
            META_ACCOUNT,
        )  # fmt: skip
    if platform == "google":
        return (
            {"customer_id": GOOGLE_CUSTOMER, "access_token": GOOGLE_TOKEN, "developer_token": GOOGLE_DEV_TOKEN,
             "conversion_action_ids": [GOOGLE_ACTION]},
            {"conversion_action_id": GOOGLE_ACTION},
            {"access_token": GOOGLE_TOKEN, "developer_token": GOOGLE_DEV_TOKEN},
            GOOGLE_CUSTOMER,
        )  # fmt: skip
    return (
        {"advertiser_id": TIKTOK_ADVERTISER, "access_token": TIKTOK_TOKEN, "pixel_code": TIKTOK_PIXEL},
        {"pixel_code": TIKTOK_PIXEL, "identity_id": "sandbox-identity", "image_ids": ["sandbox-image"]},
        {"access_token": TIKTOK_TOKEN},
        TIKTOK_ADVERTISER,
    )


async def setup_demo_ads(settings: Settings, tenant_slug: str, urls: dict[str, str]) -> list[dict[str, Any]]:
    """Register the demo accounts in the sandboxes and provision the tenant's ad accounts."""
    from tools.ads.accounts import provision
    from tools.inbox import SecretBox

    box = SecretBox(settings.channel_secrets_key)
    pool = await create_pool(settings.require_database_url(), max_size=2)
    out: list[dict[str, Any]] = []
    try:
        tenant_id = await get_tenant_by_slug(pool, tenant_slug)
        if tenant_id is None:
            raise SystemExit(f"no tenant {tenant_slug!r}")
        async with httpx.AsyncClient(timeout=10) as http:
            for platform, url in urls.items():
                body, config, secrets, external_id = _sandbox_account(platform)
                r = await http.post(f"{url}/sandbox/accounts", json=body)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"the {platform} sandbox refused the demo account: {r.status_code} {r.text}")
                async with tenant_tx(pool, tenant_id) as conn:
                    account = await provision(
                        conn, tenant_id, box, platform=platform, external_id=external_id,
                        name=f"Demo {platform} (sandbox)", base_url=url, config=config, secrets=secrets,
                    )  # fmt: skip
                out.append({"platform": platform, "account_id": str(account["id"]), "url": url})
    finally:
        await pool.close()
    return out


__all__ = ["ads_sandboxes", "setup_demo_ads"]
