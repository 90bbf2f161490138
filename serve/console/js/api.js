/** An error answer of the API: `{"error": {code, message, details}}` (or a transport failure). */
export class ApiError extends Error {
    status;
    code;
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}
function render(path, params) {
    return path.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(String(params?.[key] ?? "")));
}
function queryString(query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
        if (v !== undefined && v !== null)
            q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `?${s}` : "";
}
async function errorOf(response) {
    try {
        const body = (await response.json());
        return new ApiError(response.status, body.error.code, body.error.message);
    }
    catch {
        return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
    }
}
export class Api {
    session;
    constructor(session) {
        this.session = session;
    }
    headers(extra = {}) {
        return { Authorization: `Bearer ${this.session.token}`, "X-Tenant-Id": this.session.tenant, ...extra };
    }
    /** The raw answer (for streams): throws ApiError on a non-2xx status. */
    async fetch(method, path, opts = {}) {
        const url = render(path, opts.params) + queryString(opts.query);
        const headers = this.headers(opts.headers);
        let body;
        if (opts.body instanceof FormData) {
            body = opts.body;
        }
        else if (opts.body !== undefined) {
            body = JSON.stringify(opts.body);
            headers["Content-Type"] = "application/json";
        }
        const init = { method: method.toUpperCase(), headers };
        if (body !== undefined)
            init.body = body;
        if (opts.signal)
            init.signal = opts.signal;
        const response = await fetch(url, init);
        if (!response.ok)
            throw await errorOf(response);
        return response;
    }
    async call(method, path, opts = {}) {
        const response = await this.fetch(method, path, opts);
        return (await response.json());
    }
}
export function newKey() {
    return crypto.randomUUID();
}
