"""The operator console's static files at /console/ (serve/routers/console.py)."""

from __future__ import annotations

import httpx

from serve.routers.console import CSP


async def test_console_page_and_modules_are_served_with_types_and_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "'unsafe-inline'" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="js/main.js">' in page.text
    files = (("js/main.js", "text/javascript"), ("js/sse.js", "text/javascript"), ("console.css", "text/css"))
    for name, kind in files:
        r = await client.get(f"/console/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].startswith(kind), (name, r.headers["content-type"])
    main = (await client.get("/console/js/main.js")).text
    assert 'from "./api.js"' in main  # ES modules, relative imports the browser resolves here


async def test_console_root_redirects_and_unknown_files_are_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/console")
    assert r.status_code == 308 and r.headers["location"] == "/console/"
    for path in ("/console/nope.js", "/console/../serve/app.py", "/console/%2e%2e/app.py", "/console/js/../../app.py"):
        r = await client.get(path)
        assert r.status_code == 404, path
        if r.headers.get("content-type", "").startswith("application/json"):
            assert r.json()["error"]["code"] == "not_found"


async def test_console_files_need_no_token_but_the_api_still_does(client: httpx.AsyncClient) -> None:
    assert (await client.get("/console/js/api.js")).status_code == 200
    r = await client.get("/me")
    assert r.status_code == 401
