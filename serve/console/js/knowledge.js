// Knowledge panel: spaces, one upload at a time, its progress over SSE
// (GET /rag/uploads/{id}/events: progress … then embedded | failed).
import { newKey } from "./api.js";
import { $, errorText, setText } from "./dom.js";
import { readSse } from "./sse.js";
export async function loadSpaces(api, select) {
    const spaces = await api.call("get", "/rag/spaces");
    const el = $("space");
    el.replaceChildren(...spaces.map((s) => {
        const opt = document.createElement("option");
        opt.value = s.id;
        opt.textContent = `${s.name} (${s.docs} docs)`;
        return opt;
    }));
    if (select)
        el.value = select;
    $("upload").disabled = spaces.length === 0;
}
export async function createSpace(api) {
    const name = $("space-name").value.trim() || "Console";
    try {
        const space = await api.call("post", "/rag/spaces", { body: { name, pii_masking: false } });
        await loadSpaces(api, space.id);
        setText("upload-status", `space ${space.name} created`);
    }
    catch (err) {
        setText("upload-status", errorText(err));
    }
}
function render(u) {
    const status = $("upload-status");
    status.textContent = `${u.filename}: ${u.status} (${u.progress.done}/${u.progress.total} chunks)`;
    status.dataset["status"] = u.status;
    const bar = $("upload-progress");
    bar.max = Math.max(u.progress.total, 1);
    bar.value = u.status === "embedded" ? bar.max : u.progress.done;
    if (u.error)
        status.textContent += ` — ${u.error}`;
}
export async function upload(api) {
    const file = $("file").files?.[0];
    const space = $("space").value;
    if (!file || !space) {
        setText("upload-status", "choose a space and a file");
        return;
    }
    const form = new FormData();
    form.set("space_id", space);
    form.set("file", file, file.name);
    try {
        // One key per upload: a retry of this request would replay, never upload twice.
        const created = await api.call("post", "/rag/uploads", { body: form, headers: { "Idempotency-Key": newKey() } });
        setText("upload-status", `${file.name}: ${created.status}`);
        const stream = await api.fetch("get", "/rag/uploads/{upload_id}/events", {
            params: { upload_id: created.uploadId },
        });
        for await (const ev of readSse(stream)) {
            render(JSON.parse(ev.data));
            if (ev.event === "embedded" || ev.event === "failed")
                break;
        }
        await loadSpaces(api, space);
    }
    catch (err) {
        setText("upload-status", errorText(err));
    }
}
