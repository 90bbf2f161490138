"""The operator console end to end, in headless Chromium, against the real platform
(`tridium up`: Ray Serve gateway, agents as Ray actors, the Asaas sandbox).

Playwright (PyPI) drives Debian's ``chromium`` (scripts/system-deps.sh), never a
downloaded browser. Screenshots of each step go to ``$TRIDIUM_ARTIFACTS/console`` (default
``tests/artifacts/console``, git-ignored) and are kept whether the test passes or fails.
Waits are Playwright's auto-retrying expectations on what the page shows, with generous
timeouts for a loaded 2-core machine; nothing is asserted on time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN
from tools.payments import configure_asaas

from ..integration.conftest import MakeMember, Member
from .conftest import Platform
from .test_payments_on_serve import _sandbox_url

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TRIDIUM_ARTIFACTS") or ROOT / "tests" / "artifacts") / "console"
SLOW = 120_000  # ms: ingestion, a streamed answer or a webhook round trip on a busy machine

DOC = (
    "# Trancamento de matrícula\n\n"
    "Na Academia Aurora o aluno pode trancar a matrícula por até 90 dias por ano, sem multa.\n"
    "O pedido de trancamento é feito na recepção ou pelo WhatsApp, com 7 dias de antecedência.\n\n"
    "# Horários\n\nA academia abre às 6h e fecha às 23h de segunda a sexta.\n"
)
QUESTION = "Por quanto tempo posso trancar a matrícula?"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is missing: run `make system-deps` (installs Debian's chromium)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def tenant(make_member: MakeMember, platform: Platform, app_pool: asyncpg.Pool) -> Member:
    """A fresh tenant (its KPIs start at zero) paying through the launcher's Asaas sandbox,
    whose Luddy types slowly enough for a reload to land mid-answer."""
    m = await make_member()
    sandbox = await _sandbox_url(platform)
    await configure_asaas(app_pool, m.tenant_id, base_url=sandbox, api_key_ref="sandbox")
    async with httpx.AsyncClient(base_url=platform.base_url, headers=m.headers(), timeout=60) as c:
        hook = await c.post(
            "/admin/integrations/asaas/webhook",
            json={"url": f"{platform.base_url}/webhooks/asaas", "email": "ops@example.com"},
        )
        assert hook.status_code == 200, hook.text
        slow = await c.post("/agents/triad", json={"luddy": {"settings": {"stream_delay_ms": 400}}})
        assert slow.status_code == 200, slow.text
    return m


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_console_upload_chat_resume_pix_and_kpis(browser: Browser, platform: Platform, tenant: Member) -> None:
    context = await browser.new_context(base_url=platform.base_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []  # script errors and CSP violations show up here

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    step = "start"
    try:
        # Sign in with a token.
        step = "login"
        await page.goto("/console/")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await shot(page, "01-login")
        await page.fill("#token", tenant.token)
        await page.fill("#tenant", tenant.slug)
        await page.click("#sign-in")
        await expect(page.locator("#who")).to_contain_text(f"({tenant.slug}, owner)")

        # Upload a document and watch it reach embedded.
        step = "upload"
        await page.fill("#space-name", "Manual do aluno")
        await page.click("#create-space")
        await expect(page.locator("#space option")).to_have_count(1)
        await page.set_input_files(
            "#file", files=[{"name": "trancamento.md", "mimeType": "text/markdown", "buffer": DOC.encode()}]
        )
        await page.click("#upload")
        status = page.locator("#upload-status")
        await expect(status).to_have_attribute("data-status", "embedded", timeout=SLOW * 2)
        await expect(status).to_have_text(re.compile(r"^trancamento\.md: embedded \((\d+)/\1 chunks\)$"))
        await expect(page.locator("#space option")).to_have_text(["Manual do aluno (1 docs)"])
        await shot(page, "02-upload-embedded")

        # Ask Luddy; reload mid-answer; the page resumes the same run and loses nothing.
        step = "chat"
        await page.fill("#question", QUESTION)
        await page.click("#ask")
        run = page.locator("#run-status")
        await expect(page.locator("#answer")).not_to_be_empty(timeout=SLOW)
        await expect(run).to_have_attribute("data-status", "streaming")
        await shot(page, "03-chat-streaming")
        partial = await page.locator("#answer").text_content() or ""
        await page.reload()
        await expect(run).to_have_attribute("data-resumes", "1", timeout=SLOW)
        await expect(run).to_have_attribute("data-status", "completed", timeout=SLOW)
        await expect(run).to_have_attribute("data-intact", "true")
        await expect(run).to_have_text("completed (resumed 1x)")
        answer = await page.locator("#answer").text_content() or ""
        assert answer.startswith(partial) and len(answer) > len(partial), (partial, answer)
        assert "90 dias" in answer, answer
        await expect(page.locator("#sources li").first).to_contain_text(re.compile("trancamento", re.IGNORECASE))
        await expect(page.locator("#asked")).to_have_text(f"You: {QUESTION}")
        await shot(page, "04-chat-resumed-completed")

        # A Pix checkout, paid in the sandbox (as the payer's bank would), turns paid.
        step = "pix"
        await page.click("#checkout")
        pay = page.locator("#pay-status")
        await expect(pay).to_have_attribute("data-asaas-payment-id", re.compile(r"^pay_"), timeout=SLOW)
        await expect(pay).to_have_attribute("data-paid", "false")
        await expect(page.locator("#pix-qr")).to_be_visible()
        await expect(page.locator("#pix-payload")).to_have_value(re.compile(r"\S{20,}"))
        await shot(page, "05-pix-waiting")
        payment_id = await pay.get_attribute("data-asaas-payment-id")
        sandbox = await _sandbox_url(platform)
        async with httpx.AsyncClient(timeout=30) as asaas:
            paid = await asaas.post(
                f"{sandbox}/v3/sandbox/payment/{payment_id}/confirm",
                headers={"access_token": DEFAULT_ACCESS_TOKEN, "User-Agent": "tests"},
            )
        assert paid.status_code == 200, paid.text
        await expect(pay).to_have_attribute("data-paid", "true", timeout=SLOW)
        await expect(pay).to_contain_text("paid (RECEIVED)")
        await expect(page.locator("#pix")).to_be_hidden()
        await shot(page, "06-pix-paid")

        # KPIs of this tenant: one document, one payment received, one agent run.
        step = "kpis"
        await page.click("#refresh-kpis")
        kpi = page.locator("#kpis")
        await expect(kpi.locator('[data-kpi="payments_received"] .value')).to_have_text("1", timeout=SLOW)
        await expect(kpi.locator('[data-kpi="payments_received"] .note')).to_have_text(re.compile(r"R\$\s99,00"))
        await expect(kpi.locator('[data-kpi="docs"] .value')).to_have_text("1")
        await expect(kpi.locator('[data-kpi="agent_runs"] .value')).to_have_text("1")
        await expect(kpi.locator('[data-kpi="leads"] .value')).to_have_text(re.compile(r"^\d+$"))
        await expect(kpi.locator(".kpi.failed")).to_have_count(0)
        await shot(page, "07-kpis")
        assert not problems, problems
    except BaseException:
        await shot(page, f"failed-at-{step}")
        raise
    finally:
        await context.close()
