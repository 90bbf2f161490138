"""``tridium token``: a tenant's token reaches that tenant only (issue 9 §3). Without
``--user`` the token is for the tenant's own owner user, never the demo owner, and the
command says which user and role it is for."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import jwt
from typer.testing import CliRunner

from core.settings import Settings
from tridium.cli import app as cli
from tridium.launcher import DEMO_EMAIL, demo_user_id
from tridium.tokens import tenant_owner_email


async def _cli(*args: str) -> tuple[int, str, str]:
    # The command runs its own event loop (asyncio.run), so it gets a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _sub(settings: Settings, token: str) -> str:
    claims = jwt.decode(
        token, settings.jwt_secret.get_secret_value(), algorithms=["HS256"], options={"verify_aud": False}
    )
    return str(claims["sub"])


def _h(token: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": tenant}


async def test_tenant_b_token_does_not_reach_tenant_a(client: httpx.AsyncClient, settings: Settings) -> None:
    a, b = f"cli-a-{secrets.token_hex(4)}", f"cli-b-{secrets.token_hex(4)}"
    for slug in (a, b):
        code, _, err = await _cli("tenant", "create", slug, f"Tenant {slug}")
        assert code == 0, err
    code, out_a, err_a = await _cli("token", "--tenant", a)
    assert code == 0, err_a
    code, out_b, err_b = await _cli("token", "--tenant", b, "--role", "admin")
    assert code == 0, err_b
    token_a, token_b = out_a.strip(), out_b.strip()
    assert "\n" not in token_b, "stdout is the token alone (TOKEN=$(tridium token ...))"
    # Each token is for its tenant's own owner user, and the command says so.
    assert _sub(settings, token_b) == demo_user_id(tenant_owner_email(b)) != demo_user_id(DEMO_EMAIL)
    assert _sub(settings, token_a) != _sub(settings, token_b)
    assert tenant_owner_email(b) in err_b and "role admin" in err_b and demo_user_id(tenant_owner_email(b)) in err_b
    assert "also a member" not in err_b

    lead_a = await client.post("/leads", json={"name": "Only A"}, headers=_h(token_a, a) | {"Idempotency-Key": a})
    assert lead_a.status_code == 201, lead_a.text
    assert (await client.get("/leads", headers=_h(token_b, b))).json()["items"] == []
    for path in ("/leads", f"/leads/{lead_a.json()['id']}", "/deals"):
        r = await client.get(path, headers=_h(token_b, a))
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    me = (await client.get("/me", headers=_h(token_b, b))).json()
    assert [m["slug"] for m in me["memberships"]] == [b]


async def test_explicit_user_in_two_tenants_is_reported(settings: Settings) -> None:
    a, b = f"cli-c-{secrets.token_hex(4)}", f"cli-d-{secrets.token_hex(4)}"
    for slug in (a, b):
        assert (await _cli("tenant", "create", slug, slug))[0] == 0
    user = f"ops-{secrets.token_hex(3)}@example.com"
    assert (await _cli("token", "--tenant", a, "--user", user))[0] == 0
    code, out, err = await _cli("token", "--tenant", b, "--user", user, "--role", "viewer")
    assert code == 0, err
    assert _sub(settings, out.strip()) == demo_user_id(user)
    assert f"also a member of: {a} (owner)" in err and "role viewer" in err


async def test_unknown_tenant_and_bad_role_are_usage_errors() -> None:
    code, out, err = await _cli("token", "--tenant", f"nope-{secrets.token_hex(4)}")
    assert code == 2 and "no tenant with slug" in err and out == ""
    code, out, err = await _cli("token", "--tenant", "demo", "--role", "god")
    assert code == 2 and "role must be one of" in err and out == ""
