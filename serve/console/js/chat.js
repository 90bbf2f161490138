import { $, errorText, setText } from "./dom.js";
import { readSse } from "./sse.js";
const KEY = "tridium.console.run";
let controller = null;
function save(state) {
    sessionStorage.setItem(KEY, JSON.stringify(state));
}
function load() {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
}
function render(state) {
    setText("asked", state.input ? `You: ${state.input}` : "");
    setText("answer", state.text);
    const status = $("run-status");
    const resumed = state.resumes > 0 ? ` (resumed ${state.resumes}x)` : "";
    status.textContent = `${state.status}${resumed}`;
    status.dataset["status"] = state.status;
    status.dataset["resumes"] = String(state.resumes);
    status.dataset["intact"] = String(state.intact);
    if (state.intact === false)
        status.textContent += " — the streamed text differs from the final answer";
    const list = $("sources");
    list.replaceChildren(...state.sources.map((s) => {
        const li = document.createElement("li");
        li.textContent = s;
        return li;
    }));
}
function apply(state, ev) {
    if (ev.id)
        state.lastEventId = ev.id;
    const data = JSON.parse(ev.data);
    if (ev.event === "run.started") {
        const d = data;
        state.runId = d.run_id;
        state.threadId = d.thread_id;
    }
    else if (ev.event === "delta") {
        state.text += data.text;
    }
    else if (ev.event === "sources") {
        for (const s of data.sources) {
            state.sources.push(`[${s.n}] ${s.title}${s.source ? ` (${s.source})` : ""}`);
        }
    }
    else if (ev.event === "run.completed") {
        state.status = "completed";
        state.intact = state.text === data.output;
    }
    else if (ev.event === "error") {
        const d = data;
        state.status = "error";
        state.text += `\n[${d.code}] ${d.message}`;
    }
}
async function consume(state, response) {
    for await (const ev of readSse(response)) {
        apply(state, ev);
        save(state);
        render(state);
        if (state.status !== "streaming")
            return;
    }
}
export async function ask(api) {
    const input = $("question").value.trim();
    if (!input)
        return;
    const previous = load();
    const state = {
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
        const body = { agent: "luddy", input, context: {}, thread_id: state.threadId };
        const response = await api.fetch("post", "/agents/run", { body, signal: controller.signal });
        await consume(state, response);
    }
    catch (err) {
        if (!controller.signal.aborted)
            setText("run-status", errorText(err));
    }
}
/** Continue the stored run after its last event (after a reload or a disconnect). */
export async function resume(api) {
    const state = load();
    if (!state || state.status !== "streaming" || !state.runId) {
        if (state)
            render(state);
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
    }
    catch (err) {
        if (!controller.signal.aborted)
            setText("run-status", errorText(err));
    }
}
/** Drop the connection (what a flaky network does); the run keeps going on the server. */
export function disconnect() {
    controller?.abort();
    const state = load();
    if (state?.status === "streaming")
        setText("run-status", "disconnected");
}
export function forget() {
    sessionStorage.removeItem(KEY);
}
