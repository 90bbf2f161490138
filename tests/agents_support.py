"""Helpers for the agent tests: kb-demo indexed through the API, SSE parsing, a real OpenAI-protocol server."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

KB_DEMO = Path("/work/shared/data/kb-demo/docs")
INJECTION_DOC = "guia-aurora-corp.md"


def _read_docs(files: list[str] | None) -> dict[str, str]:
    names = files or sorted(p.name for p in KB_DEMO.iterdir() if p.suffix in (".md", ".txt"))
    return {name: (KB_DEMO / name).read_text(encoding="utf-8") for name in names}


async def load_kb_demo(client: httpx.AsyncClient, headers: dict[str, str], files: list[str] | None = None) -> int:
    """Index the kb-demo markdown/txt documents through ``POST /rag/docs`` (the real pipeline:
    chunking, embeddings, full text) and wait until every one is ``embedded``."""
    texts = _read_docs(files)
    r = await client.post("/rag/spaces", json={"name": f"kb-demo-{uuid.uuid4().hex[:6]}"}, headers=headers)
    assert r.status_code == 201, r.text
    space = r.json()["id"]
    uploads = []
    for name, text in texts.items():
        body = {"space_id": space, "title": name, "body": text, "source": f"docs/{name}"}
        r = await client.post("/rag/docs", json=body, headers=headers)
        assert r.status_code == 202, r.text
        uploads.append(r.json()["uploadId"])
    deadline = time.monotonic() + 180
    pending = set(uploads)
    while pending:
        for upload_id in list(pending):
            r = await client.get(f"/rag/uploads/{upload_id}", headers=headers)
            assert r.status_code == 200, r.text
            status = r.json()["status"]
            assert status != "failed", r.text
            if status == "embedded":
                pending.discard(upload_id)
        assert time.monotonic() < deadline, f"kb-demo still not embedded: {pending}"
        if pending:
            await asyncio.sleep(0.25)
    return len(uploads)


@dataclass
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[SseEvent]:
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            fields[k] = fields[k] + "\n" + v if k in fields else v
        if "event" in fields or "data" in fields:
            events.append(
                SseEvent(fields.get("id", ""), fields.get("event", "message"), json.loads(fields.get("data", "null")))
            )
    return events


# A real local server speaking the OpenAI chat-completions protocol --------------------------


@dataclass
class OpenAIScript:
    """Decides each completion: ``respond(request_json) -> (text | None, tool_calls | None)``."""

    respond: Callable[[dict[str, Any]], tuple[str | None, list[dict[str, Any]] | None]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    # The usage each completion reported (and, when streaming, only if the request asked for
    # it with stream_options.include_usage, as OpenAI does).
    usages: list[dict[str, int]] = field(default_factory=list)


def count_usage(req: dict[str, Any], text: str | None, calls: list[dict[str, Any]] | None) -> dict[str, int]:
    """Token counts as a real server would report them, approximated by words: the prompt
    (every message and tool schema) in, the completion (text and call arguments) out."""
    prompt = sum(len(str(m.get("content") or "").split()) for m in req.get("messages", []))
    prompt += sum(len(json.dumps(t).split()) for t in req.get("tools", []) or [])
    completion = len((text or "").split()) + sum(len(c["function"]["arguments"].split()) for c in calls or [])
    completion = max(completion, 1)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _handler(script: OpenAIScript, api_key: str) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._json(404, {"error": {"message": "not found"}})
            if self.headers.get("Authorization") != f"Bearer {api_key}":
                return self._json(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            script.requests.append(req)
            text, calls = script.respond(req)
            model = req.get("model", "test-model")
            usage = count_usage(req, text, calls)
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            if not req.get("stream") or include_usage:
                script.usages.append(usage)
            if not req.get("stream"):
                msg: dict[str, Any] = {"role": "assistant", "content": text}
                if calls:
                    msg["tool_calls"] = calls
                return self._json(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": model,
                        "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
                        "usage": usage,
                    },
                )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()

            def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> None:
                body: dict[str, Any] = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                if include_usage:
                    body["usage"] = usage if with_usage else None
                self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
                self.wfile.flush()

            chunk({"role": "assistant", "content": ""})
            if calls:
                for i, call in enumerate(calls):
                    args = call["function"]["arguments"]
                    half = len(args) // 2
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": args[:half]},
                                }
                            ]
                        }
                    )
                    chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
                chunk({}, "tool_calls")
            else:
                for word in re.findall(r"\S+\s*", text or ""):
                    chunk({"content": word})
                chunk({}, "stop")
            if include_usage:  # one more chunk, empty choices, before [DONE]
                chunk({}, with_usage=True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return H


class OpenAIServer:
    def __init__(self, script: OpenAIScript, api_key: str = "sk-test-local"):
        self.script = script
        self.api_key = api_key
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script, api_key))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def last_user_text(req: dict[str, Any]) -> str:
    for m in reversed(req["messages"]):
        if m["role"] == "user":
            return str(m["content"])
    return ""


def tool_messages(req: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in req["messages"] if m["role"] == "tool"]


OPENAI_MARKER = "[openai-tool-test]"
OPENAI_NAME_MARKER = "[openai-name-test]"


def _name_turns(req: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The greeting/name conversation: search the knowledge base with the customer's words,
    answer from the tool result, and answer "what is my name?" from the messages the
    platform sent (the thread's history) — the model reads it, the test server does not keep state."""
    text = last_user_text(req)
    if "meu nome?" in text:
        earlier = [str(m["content"]) for m in req["messages"] if m["role"] == "user" and m["content"] != text]
        named = next((re.search(r"meu nome é (\w+ \w+)", t) for t in earlier if "meu nome é" in t), None)
        return (f"Seu nome é {named.group(1)}." if named else "Não sei o seu nome."), None
    if not tool_messages(req):
        query = text.replace(OPENAI_NAME_MARKER, "").strip()
        call = {
            "id": "call_kb",
            "type": "function",
            "function": {"name": "kb_search", "arguments": json.dumps({"query": query})},
        }
        return None, [call]
    result = json.loads(tool_messages(req)[-1]["content"])
    first = next((s["text"] for s in result.get("sources", []) if "MEXEMARCO" in s["text"]), "")
    line = next((x for x in first.splitlines() if "MEXEMARCO" in x), "Não encontrei.")
    return f"Olá, Joana! {line.strip()} [1]", None


def scripted_completion(req: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """What the test LLM answers: for the tool test, call kb_search (allowed) and
    handoff_to_human (not allowed for that tenant), then answer with one grounded offer, one
    invented price and one invented discount; anything else gets a plain reply."""
    if any(OPENAI_NAME_MARKER in str(m.get("content")) for m in req["messages"] if m["role"] == "user"):
        return _name_turns(req)
    if OPENAI_MARKER not in last_user_text(req):
        return "Olá! Como posso ajudar?", None
    if not tool_messages(req):
        return None, [
            {
                "id": "call_kb",
                "type": "function",
                "function": {"name": "kb_search", "arguments": json.dumps({"query": "cupom personal MEXEMARCO"})},
            },
            {
                "id": "call_ho",
                "type": "function",
                "function": {"name": "handoff_to_human", "arguments": json.dumps({"reason": "other"})},
            },
        ]
    return (
        "Use o cupom MEXEMARCO: 15% de desconto nos pacotes de personal. O pacote avulso sai por R$ 19,90. "
        "Hoje também temos 90% de desconto. [1]",
        None,
    )
