// Chat with Luddy: POST /agents/run streams the run's events (SSE); every event id is kept
// in sessionStorage, so after a reload or a dropped connection the page resumes the same
// run with Last-Event-ID (GET /agents/runs/{id}/events) and loses nothing. The server keeps
// the run alive for agent_disconnect_grace_s after the client goes away.
import type { Api } from "./api.js";
import { $, errorText, setText } from "./dom.js";
import { readSse, type SseEvent } from "./sse.js";

/** The run events the console reads (serve/routers/agents.py, actors/host.py); SSE bodies
 *  are not part of the OpenAPI contract, so these are declared here. */
interface RunStarted {
  run_id: string;
  thread_id: string;
}
interface Delta {
  text: string;
}
interface Source {
  n: number;
  title: string;
  source: string | null;
}
interface Completed {
  output: string;
  status: string;
}
interface RunError {
  code: string;
  message: string;
}

interface RunState {
  input: string;
  runId: string | null;
  threadId: string | null;
  lastEventId: string | null;
  text: string;
  sources: string[];
  status: "streaming" | "completed" | "error";
  resumes: number;
  /** Whether the streamed deltas add up to the final answer (nothing lost across resumes). */
  intact: boolean | null;
}

const KEY = "tridium.console.run";
let controller: AbortController | null = null;

function save(state: RunState): void {
  sessionStorage.setItem(KEY, JSON.stringify(state));
}

function load(): RunState | null {
  const raw = sessionStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as RunState) : null;
}

function render(state: RunState): void {
  setText("asked", state.input ? `You: ${state.input}` : "");
  setText("answer", state.text);
  const status = $("run-status");
  const resumed = state.resumes > 0 ? ` (resumed ${state.resumes}x)` : "";
  status.textContent = `${state.status}${resumed}`;
  status.dataset["status"] = state.status;
  status.dataset["resumes"] = String(state.resumes);
  status.dataset["intact"] = String(state.intact);
  if (state.intact === false) status.textContent += " — the streamed text differs from the final answer";
  const list = $("sources");
  list.replaceChildren(
    ...state.sources.map((s) => {
      const li = document.createElement("li");
      li.textContent = s;
      return li;
    }),
  );
}

function apply(state: RunState, ev: SseEvent): void {
  if (ev.id) state.lastEventId = ev.id;
  const data: unknown = JSON.parse(ev.data);
  if (ev.event === "run.started") {
    const d = data as RunStarted;
    state.runId = d.run_id;
    state.threadId = d.thread_id;
  } else if (ev.event === "delta") {
    state.text += (data as Delta).text;
  } else if (ev.event === "sources") {
    for (const s of (data as { sources: Source[] }).sources) {
      state.sources.push(`[${s.n}] ${s.title}${s.source ? ` (${s.source})` : ""}`);
    }
  } else if (ev.event === "run.completed") {
    state.status = "completed";
    state.intact = state.text === (data as Completed).output;
  } else if (ev.event === "error") {
    const d = data as RunError;
    state.status = "error";
    state.text += `\n[${d.code}] ${d.message}`;
  }
}

async function consume(state: RunState, response: Response): Promise<void> {
  for await (const ev of readSse(response)) {
    apply(state, ev);
    save(state);
    render(state);
    if (state.status !== "streaming") return;
  }
}

export async function ask(api: Api): Promise<void> {
  const input = $<HTMLInputElement>("question").value.trim();
  if (!input) return;
  const previous = load();
  const state: RunState = {
    input,
    runId: null,
    threadId: previous?.threadId ?? null, // the same conversation, with Luddy's memory of it
    lastEventId: null,
    text: "",
    sources: [],
    status: "streaming",
    resumes: 0,
    intact: null,
  };
  save(state);
  render(state);
  controller = new AbortController();
  try {
    const body = { agent: "luddy" as const, input, context: {}, thread_id: state.threadId };
    const response = await api.fetch("post", "/agents/run", { body, signal: controller.signal });
    await consume(state, response);
  } catch (err) {
    if (!controller.signal.aborted) setText("run-status", errorText(err));
  }
}

/** Continue the stored run after its last event (after a reload or a disconnect). */
export async function resume(api: Api): Promise<void> {
  const state = load();
  if (!state || state.status !== "streaming" || !state.runId) {
    if (state) render(state);
    return;
  }
  state.resumes += 1;
  save(state);
  render(state);
  controller = new AbortController();
  try {
    const response = await api.fetch("get", "/agents/runs/{run_id}/events", {
      params: { run_id: state.runId },
      headers: state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {},
      signal: controller.signal,
    });
    await consume(state, response);
  } catch (err) {
    if (!controller.signal.aborted) setText("run-status", errorText(err));
  }
}

/** Drop the connection (what a flaky network does); the run keeps going on the server. */
export function disconnect(): void {
  controller?.abort();
  const state = load();
  if (state?.status === "streaming") setText("run-status", "disconnected");
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
}
