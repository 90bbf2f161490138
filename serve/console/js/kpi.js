// KPI panel. Each tile comes from a source: an async function over the API. Today the
// tiles are composed from routes that exist (spaces, leads, deals, payments, AI cost);
// a dedicated KPI route can replace them by adding one source to SOURCES and dropping the
// composed ones. A source that fails (a role without access, a route not deployed) shows
// as "unavailable" with the error code; the other tiles still render.
import { ApiError } from "./api.js";
import { $, money } from "./dom.js";
const PAGE = 200;
const MAX_PAGES = 5; // a console glance, not a report: counts cap at PAGE * MAX_PAGES
async function countAll(fetchPage, each) {
    let cursor;
    let n = 0;
    for (let page = 0; page < MAX_PAGES; page++) {
        const got = await fetchPage(cursor);
        n += got.items.length;
        if (each)
            got.items.forEach(each);
        if (!got.next_cursor)
            return String(n);
        cursor = got.next_cursor;
    }
    return `${n}+`;
}
const documents = {
    keys: [["docs", "Documents indexed"]],
    read: async (api) => {
        const spaces = await api.call("get", "/rag/spaces");
        const docs = spaces.reduce((sum, s) => sum + (s.docs ?? 0), 0);
        return [{ key: "docs", label: "Documents indexed", value: String(docs), note: `${spaces.length} spaces` }];
    },
};
const leads = {
    keys: [["leads", "Leads"]],
    read: async (api) => {
        const value = await countAll((cursor) => api.call("get", "/leads", { query: cursor ? { limit: PAGE, cursor } : { limit: PAGE } }));
        return [{ key: "leads", label: "Leads", value }];
    },
};
const wonDeals = {
    keys: [["deals_won", "Deals won"]],
    read: async (api) => {
        let cents = 0;
        const value = await countAll((cursor) => api.call("get", "/deals", { query: cursor ? { stage: "won", limit: PAGE, cursor } : { stage: "won", limit: PAGE } }), (d) => (cents += d.value_cents ?? 0));
        return [{ key: "deals_won", label: "Deals won", value, note: money(cents) }];
    },
};
const payments = {
    keys: [["payments_received", "Payments received"]],
    read: async (api) => {
        let cents = 0;
        const value = await countAll((cursor) => api.call("get", "/payments", { query: cursor ? { status: "RECEIVED", limit: PAGE, cursor } : { status: "RECEIVED", limit: PAGE } }), (p) => (cents += p.amountCents));
        return [{ key: "payments_received", label: "Payments received", value, note: money(cents) }];
    },
};
const aiCost = {
    keys: [
        ["agent_runs", "Agent runs (30 days)"],
        ["ai_cost", "AI cost (30 days)"],
    ],
    read: async (api) => {
        const r = await api.call("get", "/metrics/ai-cost");
        return [
            { key: "agent_runs", label: "Agent runs (30 days)", value: String(r.total_runs) },
            { key: "ai_cost", label: "AI cost (30 days)", value: `US$ ${r.total_usd.toFixed(4)}` },
        ];
    },
};
export const SOURCES = [documents, leads, wonDeals, payments, aiCost];
function tile(k, failed = false) {
    const el = document.createElement("div");
    el.className = failed ? "kpi failed" : "kpi";
    el.dataset["kpi"] = k.key;
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = k.label;
    const value = document.createElement("strong");
    value.className = "value";
    value.textContent = k.value;
    el.append(label, value);
    if (k.note) {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = k.note;
        el.append(note);
    }
    return el;
}
export async function refresh(api) {
    const settled = await Promise.allSettled(SOURCES.map((s) => s.read(api)));
    const tiles = [];
    settled.forEach((result, i) => {
        if (result.status === "fulfilled") {
            tiles.push(...result.value.map((k) => tile(k)));
            return;
        }
        const why = result.reason instanceof ApiError ? `unavailable (${result.reason.code})` : "unavailable";
        for (const [key, label] of SOURCES[i]?.keys ?? [])
            tiles.push(tile({ key, label, value: "—", note: why }, true));
    });
    const grid = $("kpis");
    grid.replaceChildren(...tiles);
    grid.dataset["refreshedAt"] = new Date().toISOString();
}
