"""The console's SSE parser (serve/console/js/sse.js, from clients/ts/console/src/sse.ts),
run by Node on a real sse-starlette stream cut into reads at every possible byte: the
events, their ids and data come out the same however the network splits them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from sse_starlette import ServerSentEvent

ROOT = Path(__file__).resolve().parents[2]
SSE_JS = ROOT / "serve" / "console" / "js" / "sse.js"

SCRIPT = """
import { readSse } from %(module)s;
const stream = %(stream)s;
const enc = new TextEncoder().encode(stream);
const results = [];
for (let cut = 1; cut < enc.length; cut++) {
  const body = new ReadableStream({
    start(c) { c.enqueue(enc.slice(0, cut)); c.enqueue(enc.slice(cut)); c.close(); },
  });
  const got = [];
  for await (const ev of readSse(new Response(body))) got.push(ev);
  results.push(JSON.stringify(got));
}
console.log(JSON.stringify({ distinct: [...new Set(results)] }));
"""


def test_sse_parser_is_independent_of_how_reads_split_the_stream(tmp_path: Path) -> None:
    assert shutil.which("node"), "node is missing: run `make system-deps`"
    events = [
        ServerSentEvent(data=json.dumps({"run_id": "r"}), event="run.started", id="r:1-0"),
        ServerSentEvent(data=json.dumps({"text": "Olá, "}), event="delta", id="r:2-0"),
        ServerSentEvent(data="line one\nline two", event="delta", id="r:3-0"),
        ServerSentEvent(data=json.dumps({"output": "Olá, fim"}), event="run.completed", id="r:4-0"),
    ]
    stream = "".join(e.encode().decode() for e in events[:2]) + ": keepalive\r\n\r\n"
    stream += "".join(e.encode().decode() for e in events[2:])
    assert "\r\n" in stream  # sse-starlette's separator, the case a split can break
    script = tmp_path / "check.mjs"
    script.write_text(SCRIPT % {"module": json.dumps(SSE_JS.as_uri()), "stream": json.dumps(stream)})
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    distinct = json.loads(done.stdout)["distinct"]
    assert len(distinct) == 1, distinct
    got = json.loads(distinct[0])
    assert [(e["event"], e["id"]) for e in got] == [
        ("run.started", "r:1-0"),
        ("delta", "r:2-0"),
        ("delta", "r:3-0"),
        ("run.completed", "r:4-0"),
    ]
    assert got[1]["data"] == json.dumps({"text": "Olá, "}) and got[2]["data"] == "line one\nline two"
