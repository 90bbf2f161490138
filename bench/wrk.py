"""Drive HTTP load with wrk (C, from the OS packages): the load generator then costs far
less CPU than the servers it measures, which matters on a 2-core machine.

A small Lua script gives every POST a unique Idempotency-Key and prints the latency
percentiles and counts as one JSON line in ``done()``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench._common import Run

_LUA = r"""
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  method = args[1]
  path = args[2]
  body = args[3]
  headers = {}
  for i = 4, #args, 2 do headers[args[i]] = args[i + 1] end
end
request = function()
  counter = counter + 1
  if method == "POST" then
    headers["Idempotency-Key"] = "wrk-" .. tid .. "-" .. counter .. "-" .. math.random(1, 1e9)
    local b = string.gsub(body, "{n}", tid .. "-" .. counter)
    return wrk.format(method, path, headers, b)
  end
  return wrk.format(method, path, headers, nil)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write("WRKJSON " .. string.format(
    '{"requests": %d, "seconds": %.3f, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, '
    .. '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: run `make bench` (installs it) or apt-get install wrk")
    return path


def run_wrk(
    name: str,
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str = "",
    *,
    seconds: int = 10,
    connections: int = 16,
    threads: int = 1,
) -> Run:
    """``body`` may contain ``{n}``, replaced by a unique counter per request."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_LUA)
        script = Path(f.name)
    args = [method, path, body]
    for k, v in headers.items():
        args += [k, v]
    try:
        out = subprocess.run(
            [
                require_wrk(),
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "-s",
                str(script),
                url,
                "--",
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        script.unlink(missing_ok=True)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    errors = data["non2xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return Run(
        name,
        data["requests"],
        errors,
        data["seconds"],
        round(data["p50_ms"], 2),
        round(data["p95_ms"], 2),
        round(data["p99_ms"], 2),
        round(data["requests"] / data["seconds"], 1),
    )
