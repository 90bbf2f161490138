"""The inbox end to end on real sockets: the WhatsApp sandbox signs and delivers webhooks to
the gateway, the InboxWorker merges bursts into one Luddy run and sends the answer back
through the sandbox; handoff, staff replies, the reply window, retries and bad input."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from core.settings import Settings
from core.tenancy import TenantId
from tools.channels.meta import sign
from tools.inbox.turns import Turn
from tools.inbox.worker import AgentPort, RunOutcome

from ..conftest import Infra, MakeMember
from ..inbox_support import InboxHarness, eventually, inbox_harness
from ..payments_support import bounded

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTACT = "+5511988887777"


@pytest.fixture
async def h(settings: Settings, make_member: MakeMember, migrated: Infra) -> InboxHarness:  # type: ignore[misc]
    async with inbox_harness(settings, make_member, migrated.relay_url) as running:
        yield running


async def _answers(h: InboxHarness) -> list[dict[str, object]]:
    return [m for m in await h.sent() if m["type"] == "text"]


async def test_burst_with_duplicate_and_shuffled_statuses_gives_one_answer(h: InboxHarness) -> None:
    await h.wa.post("/sandbox/settings", json={"status_mode": "shuffled", "status_delay_s": 0.02})
    first = await h.say("Oi")
    for text in ("tudo bem?", "queria saber do plano", "quanto custa?"):
        r = await h.say(text)
        assert r["gateway_status"] == 200
    r = await h.wa.post("/sandbox/replay", json={"count": 1})  # Meta redelivers the last message
    assert r.json()["gateway_statuses"] == [200]

    async def answered_and_read() -> bool:
        rows = await h.fetch("select status from messages where tenant_id = $1 and direction = 'out'")
        return len(rows) == 1 and rows[0]["status"] == "read"

    await eventually(answered_and_read, 20, "one answer, read")
    await asyncio.sleep(1.5)  # longer than the quiet window: no second turn may follow
    answers = await _answers(h)
    assert len(answers) == 1, answers
    runs = await h.fetch("select input, status from agent_runs where tenant_id = $1")
    assert len(runs) == 1 and runs[0]["status"] == "completed"
    assert runs[0]["input"] == "Oi\ntudo bem?\nqueria saber do plano\nquanto custa?"
    inbound = await h.fetch(
        "select provider_message_id, turn_state from messages where tenant_id = $1 and direction = 'in'"
    )
    assert len(inbound) == 4 and {r["turn_state"] for r in inbound} == {"answered"}
    assert first["id"] in {r["provider_message_id"] for r in inbound}
    out = (await h.fetch("select * from outbound_deliveries where tenant_id = $1"))[0]
    assert out["status"] == "read" and out["attempts"] == 1 and out["idempotency_key"].startswith("run:")
    assert out["delivered_at"] is not None and out["read_at"] is not None
    thread = await h.thread()
    assert thread is not None and thread["status"] == "bot" and thread["unread_count"] == 4
    lead = (await h.fetch("select phone, source from leads where tenant_id = $1 and id = $2", thread["lead_id"]))[0]
    assert lead["phone"] == CONTACT and lead["source"] == "whatsapp"
    # The conversation list shows it with its unread count and last message.
    r = await h.api.get("/inbox/conversations", headers=h.h())
    item = next(i for i in r.json()["items"] if i["id"] == str(thread["id"]))
    assert item["unread_count"] == 4 and item["contact"] == CONTACT and item["last_message_preview"] == "quanto custa?"


async def test_message_during_a_run_is_the_next_turn(h: InboxHarness) -> None:
    r = await h.api.post("/agents/triad", json={"luddy": {"settings": {"stream_delay_ms": 400}}}, headers=h.h())
    assert r.status_code == 200, r.text
    await h.say("primeira pergunta")

    async def running() -> bool:
        t = await h.thread()
        return t is not None and t["active_run_id"] is not None

    await eventually(running, 10, "the first run to start")
    await h.say("segunda pergunta")

    async def two_answers() -> bool:
        return len(await _answers(h)) == 2

    await eventually(two_answers, 25, "two answers")
    runs = await h.fetch("select input from agent_runs where tenant_id = $1 order by created_at")
    assert [r["input"] for r in runs] == ["primeira pergunta", "segunda pergunta"]
    await asyncio.sleep(1.0)
    assert len(await _answers(h)) == 2


async def test_handoff_silences_luddy_and_staff_reply_reaches_the_customer(h: InboxHarness) -> None:
    await h.say("quero falar com um atendente humano")

    async def pending() -> bool:
        t = await h.thread()
        return t is not None and t["status"] == "pending_human" and len(await _answers(h)) == 1

    await eventually(pending, 20, "handoff to pending_human with Luddy's notice")
    thread = await h.thread()
    assert thread is not None and "atendente" in (thread["handoff_summary"] or "")
    r = await h.api.get("/inbox/conversations", params={"status": "pending_human"}, headers=h.h())
    assert [i["id"] for i in r.json()["items"]] == [str(thread["id"])]

    await h.say("alguém aí?")
    await asyncio.sleep(1.5)
    assert len(await _answers(h)) == 1  # Luddy stays silent

    tid = thread["id"]
    r = await h.api.post(f"/inbox/conversations/{tid}/reply", json={"text": "oi"}, headers=h.h())
    assert r.status_code == 409, r.text  # take it first
    r = await h.api.post(f"/inbox/conversations/{tid}/take", headers=h.h())
    assert r.status_code == 200 and r.json()["status"] == "human" and r.json()["assignee"] == h.member.user_id
    key = str(uuid.uuid4())
    for _ in range(2):  # the same Idempotency-Key never sends twice
        r = await h.api.post(
            f"/inbox/conversations/{tid}/reply",
            json={"text": "Olá, aqui é a Ana da equipe!"},
            headers=h.h(**{"Idempotency-Key": key}),
        )
        assert r.status_code == 202, r.text

    async def staff_sent() -> bool:
        return any(m["body"]["text"]["body"] == "Olá, aqui é a Ana da equipe!" for m in await _answers(h))

    await eventually(staff_sent, 10, "the staff reply at the sandbox")
    await asyncio.sleep(0.3)
    assert len(await _answers(h)) == 2
    r = await h.api.post(f"/inbox/conversations/{tid}/notes", json={"body": "cliente VIP"}, headers=h.h())
    assert r.status_code == 201
    r = await h.api.get(f"/inbox/conversations/{tid}/notes", headers=h.h())
    assert [n["body"] for n in r.json()["items"]] == ["cliente VIP"]
    assert not any("VIP" in str(m["body"]) for m in await h.sent())

    r = await h.api.post(f"/inbox/conversations/{tid}/release", headers=h.h())
    assert r.json()["status"] == "bot"
    await h.say("obrigado, e o horário de funcionamento?")

    async def luddy_back() -> bool:
        return len(await _answers(h)) == 3

    await eventually(luddy_back, 20, "Luddy answering after the hand-back")
    events = await h.fetch(
        "select payload->>'to' as to from event_log where tenant_id = $1 and type = 'thread.status_changed' "
        "order by created_at"
    )
    assert [e["to"] for e in events] == ["pending_human", "human", "bot"]


async def test_outside_the_window_the_api_offers_the_template_path(h: InboxHarness) -> None:
    await h.say("oi")
    await eventually(lambda: _count_answers(h, 1), 20, "the first answer")
    thread = await h.thread()
    assert thread is not None
    tid = thread["id"]
    await h.fetch("update threads set last_inbound_at = now() - interval '25 hours' where tenant_id = $1")
    await h.api.post(f"/inbox/conversations/{tid}/take", headers=h.h())
    r = await h.api.post(f"/inbox/conversations/{tid}/reply", json={"text": "voltamos!"}, headers=h.h())
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "outside_reply_window" and err["details"]["alternative"] == "template"
    template = {"kind": "template", "template": {"name": "retomada_atendimento", "language": "pt_BR"}}
    r = await h.api.post(f"/inbox/conversations/{tid}/reply", json=template, headers=h.h())
    assert r.status_code == 202, r.text

    async def template_sent() -> bool:
        return any(m["type"] == "template" for m in await h.sent())

    await eventually(template_sent, 10, "the template at the sandbox")
    big = {"kind": "media", "media_kind": "image", "media": {"url": "https://x.test/a.jpg", "size_bytes": 6 * 2**20}}
    r = await h.api.post(f"/inbox/conversations/{tid}/reply", json=big, headers=h.h())
    assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"


async def _count_answers(h: InboxHarness, n: int) -> bool:
    return len(await _answers(h)) == n


async def test_rate_limits_are_retried_and_final_errors_end_visible(h: InboxHarness) -> None:
    await h.wa.post("/sandbox/faults", json={"status": 429, "code": 130429, "count": 1})
    await h.wa.post("/sandbox/faults", json={"status": 503, "code": 131000, "count": 1})
    await h.say("oi")

    async def sent_after_retries() -> bool:
        rows = await h.fetch("select status, attempts from outbound_deliveries where tenant_id = $1")
        return len(rows) == 1 and rows[0]["status"] in ("sent", "delivered", "read") and rows[0]["attempts"] == 3

    await eventually(sent_after_retries, 20, "a send after a rate limit and a 5xx")
    assert len(await _answers(h)) == 1
    await h.wa.post("/sandbox/faults", json={"status": 400, "code": 131026, "count": 1, "message": "Undeliverable"})
    await h.say("mais uma pergunta")

    async def failed_visible() -> bool:
        rows = await h.fetch(
            "select status, status_reason from messages "
            "where tenant_id = $1 and direction = 'out' and status = 'failed'"
        )
        return len(rows) == 1 and "131026" in (rows[0]["status_reason"] or "")

    await eventually(failed_visible, 20, "the failed send with its reason")


async def test_webhook_signature_handshake_and_bad_input(h: InboxHarness) -> None:
    url = f"/webhooks/whatsapp/{h.tenant_id}"
    before = len(await h.fetch("select id from inbound_deliveries where tenant_id = $1"))
    r = await h.say("assinatura errada", bad_signature=True)
    assert r["gateway_status"] == 401
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    r = await h.api.post(url, content=body, headers={"X-Hub-Signature-256": sign(body, "not-the-secret")})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await h.api.post(url, content=body)
    assert r.status_code == 401
    assert len(await h.fetch("select id from inbound_deliveries where tenant_id = $1")) == before

    for bad in (
        b"{not json",
        b'{"object": "page", "entry": []}',
        json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": {"metadata": {}}}]}],
            }
        ).encode(),
    ):
        r = await h.api.post(url, content=bad, headers={"X-Hub-Signature-256": sign(bad, h.app_secret)})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_webhook", r.text
    logs = await h.fetch("select code from error_logs where tenant_id = $1 and source = 'webhooks.whatsapp'")
    assert len(logs) == 3

    unknown = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "999", "display_phone_number": "1"},
                            "messages": [
                                {
                                    "from": "5511900000000",
                                    "id": "wamid.X",
                                    "timestamp": "1700000000",
                                    "type": "text",
                                    "text": {"body": "oi"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(unknown).encode()
    r = await h.api.post(url, content=raw, headers={"X-Hub-Signature-256": sign(raw, h.app_secret)})
    assert r.status_code == 200 and r.json()["ignored"] == 1 and r.json()["ignored_accounts"] == ["999"]
    assert len(await h.fetch("select id from inbound_deliveries where tenant_id = $1")) == before

    ok = {"hub.mode": "subscribe", "hub.verify_token": h.verify_token, "hub.challenge": "1158201444"}
    r = await h.api.get(url, params=ok)
    assert r.status_code == 200 and r.text == "1158201444"
    r = await h.api.get(url, params={**ok, "hub.verify_token": "wrong"})
    assert r.status_code == 403
    r = await h.api.get(f"/webhooks/whatsapp/{uuid.uuid4()}", params=ok)
    assert r.status_code == 403


async def test_message_types_are_normalized(h: InboxHarness) -> None:
    await h.say("", type="image", mime_type="image/png")
    await h.say("Rua A, 10", type="location")
    await h.say("Sim, quero", type="interactive", reply_id="yes")
    await h.say("👍", type="reaction", message_id="wamid.Z")

    async def four() -> bool:
        return len(await h.fetch("select id from messages where tenant_id = $1 and direction = 'in'")) == 4

    await eventually(four, 15, "four inbound messages")
    rows = await h.fetch(
        "select content_type, body, media, turn_state from messages where tenant_id = $1 and direction = 'in' "
        "order by created_at"
    )
    assert [r["content_type"] for r in rows] == ["image", "location", "interactive", "reaction"]
    assert rows[0]["body"] == "[image]" and rows[0]["media"][0]["mime_type"] == "image/png"
    assert rows[2]["body"] == "Sim, quero" and rows[3]["turn_state"] == "skipped"


async def test_accounts_are_encrypted_masked_and_tenant_scoped(
    h: InboxHarness, make_member: MakeMember, client: httpx.AsyncClient
) -> None:
    rows = await h.fetch("select secrets, secret_hints from channel_accounts where tenant_id = $1")
    assert h.access_token.encode() not in bytes(rows[0]["secrets"]) and h.app_secret.encode() not in bytes(
        rows[0]["secrets"]
    )
    r = await h.api.get("/admin/channels/accounts", headers=h.h())
    text = r.text
    assert (
        r.status_code == 200 and h.access_token not in text and h.app_secret not in text and h.verify_token not in text
    )
    assert r.json()["items"][0]["secret_hints"]["access_token"] == "…" + h.access_token[-4:]

    await h.say("oi")
    await eventually(lambda: _count_answers(h, 1), 20, "an answer")
    thread = await h.thread()
    assert thread is not None
    other = await make_member()
    tid = thread["id"]
    for method, path in (
        ("GET", f"/inbox/conversations/{tid}"),
        ("POST", f"/inbox/conversations/{tid}/take"),
        ("POST", f"/inbox/conversations/{tid}/release"),
        ("GET", f"/inbox/conversations/{tid}/notes"),
    ):
        r = await h.api.request(method, path, headers=other.headers())
        assert r.status_code == 404, (path, r.text)
    r = await h.api.post(f"/inbox/conversations/{tid}/notes", json={"body": "x"}, headers=other.headers())
    assert r.status_code == 404
    r = await h.api.get("/inbox/conversations", headers=other.headers())
    assert r.json()["items"] == []
    r = await h.api.get("/admin/channels/accounts", headers=other.headers())
    assert r.json()["items"] == []
    viewer = await make_member(role="viewer")
    r = await h.api.get("/admin/channels/accounts", headers=viewer.headers())
    assert r.status_code == 403
    # Another tenant's webhook URL with this tenant's signature: nothing to verify against.
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    r = await h.api.post(
        f"/webhooks/whatsapp/{other.tenant_id}", content=body, headers={"X-Hub-Signature-256": sign(body, h.app_secret)}
    )
    assert r.status_code == 401


async def test_a_worker_killed_mid_turn_loses_nothing_and_answers_once(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    async with inbox_harness(settings, make_member, migrated.relay_url) as h:
        r = await h.api.post("/agents/triad", json={"luddy": {"settings": {"stream_delay_ms": 600}}}, headers=h.h())
        assert r.status_code == 200, r.text
        await h.say("oi, vocês entregam?")

        async def running() -> bool:  # the run itself, not only the claim (see the next test)
            t = await h.thread()
            if t is None or t["active_run_id"] is None:
                return False
            runs = await h.fetch("select status from agent_runs where tenant_id = $1 and id = $2", t["active_run_id"])
            return [r["status"] for r in runs] == ["running"]

        await eventually(running, 10, "the run to start")
        assert h.task is not None
        h.task.cancel()  # the worker dies mid-turn (its stream entries and due set stay behind)
        await bounded("the killed worker's shutdown", asyncio.gather(h.task, return_exceptions=True))
        await h.say("e aceitam pix?")  # stored by the gateway while no worker runs
        h.task = asyncio.create_task(h.worker.run_forever(h.stop))
        await _both_answered_on_their_own(h, "oi, vocês entregam?", "e aceitam pix?")


class _StallFirstStart:
    """An AgentPort whose first ``answer`` never reaches the agent: the worker dies after
    ``claim_turn`` committed (``threads.active_run_id`` set, messages claimed) and before
    ``start_run`` recorded the run, the window a loaded machine widens."""

    def __init__(self, inner: AgentPort) -> None:
        self.inner = inner
        self.stalled = asyncio.Event()

    async def answer(self, tenant_id: TenantId, turn: Turn) -> RunOutcome:
        if not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()  # until the worker is killed
        return await self.inner.answer(tenant_id, turn)

    async def outcome(self, tenant_id: TenantId, turn: Turn) -> RunOutcome:
        return await self.inner.outcome(tenant_id, turn)


async def test_a_worker_killed_between_claim_and_run_start_answers_the_claimed_turn(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    stall: list[_StallFirstStart] = []

    def wrap(inner: AgentPort) -> AgentPort:
        stall.append(_StallFirstStart(inner))
        return stall[0]

    async with inbox_harness(settings, make_member, migrated.relay_url, wrap_agents=wrap) as h:
        await h.say("oi, vocês entregam?")
        await eventually(lambda: _is_set(stall[0].stalled), 10, "the turn to be claimed")
        thread = await h.thread()
        assert thread is not None and thread["active_run_id"] is not None
        claimed = thread["active_run_id"]
        assert await h.fetch("select id from agent_runs where tenant_id = $1") == []  # no run yet
        assert h.task is not None
        h.task.cancel()
        await bounded("the killed worker's shutdown", asyncio.gather(h.task, return_exceptions=True))
        await h.say("e aceitam pix?")
        h.task = asyncio.create_task(h.worker.run_forever(h.stop))
        await _both_answered_on_their_own(h, "oi, vocês entregam?", "e aceitam pix?")
        # The restarted worker started the claimed turn as claimed: its run id, its message.
        first = await h.fetch("select id from agent_runs where tenant_id = $1 order by created_at limit 1")
        assert first[0]["id"] == claimed


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _both_answered_on_their_own(h: InboxHarness, first: str, second: str) -> None:
    """Each message answered once, by its own run: the first by the turn the dead worker
    claimed, the second (stored while no worker ran) by the next turn."""

    async def both_answered() -> bool:
        rows = await h.fetch("select turn_state from messages where tenant_id = $1 and direction = 'in'")
        return len(rows) == 2 and {r["turn_state"] for r in rows} == {"answered"} and len(await _answers(h)) == 2

    try:
        await eventually(both_answered, 40, "both messages answered after the restart")
    finally:
        runs = await h.fetch("select id, status, input from agent_runs where tenant_id = $1 order by created_at")
        inbound = await h.fetch(
            "select body, turn_state, turn_run_id from messages where tenant_id = $1 and direction = 'in' "
            "order by created_at"
        )
        state = f"runs={[dict(r) for r in runs]} inbound={[dict(m) for m in inbound]} worker={h.worker.stats()}"
    await asyncio.sleep(1.0)
    assert len(await _answers(h)) == 2, state
    assert [r["input"] for r in runs] == [first, second], state


async def test_luddys_follow_up_goes_out_through_whatsapp(h: InboxHarness) -> None:
    await h.say("oi")
    await eventually(lambda: _count_answers(h, 1), 20, "the first answer")
    thread = await h.thread()
    assert thread is not None
    r = await h.api.post(
        "/agents/tools/send_followup/invoke",
        json={"agent": "luddy", "args": {"lead_id": str(thread["lead_id"]), "text": "Seu pedido foi confirmado!"}},
        headers=h.h(**{"Idempotency-Key": str(uuid.uuid4())}),
    )
    assert r.status_code == 200, r.text

    async def followed_up() -> bool:
        return any(m["body"]["text"]["body"] == "Seu pedido foi confirmado!" for m in await _answers(h))

    await eventually(followed_up, 15, "the follow-up at the sandbox")


async def test_a_closed_conversation_reopens_when_the_customer_writes(h: InboxHarness) -> None:
    await h.say("oi")
    await eventually(lambda: _count_answers(h, 1), 20, "the first answer")
    thread = await h.thread()
    assert thread is not None
    r = await h.api.post(f"/inbox/conversations/{thread['id']}/close", json={"reason": "resolvido"}, headers=h.h())
    assert r.status_code == 200 and r.json()["status"] == "closed"
    await h.say("voltei, mais uma dúvida")
    await eventually(lambda: _count_answers(h, 2), 20, "Luddy answering the reopened conversation")
    reopened = await h.thread()
    assert reopened is not None and reopened["status"] == "bot" and reopened["status_reason"] == "reopened"
