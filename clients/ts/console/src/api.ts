// A tiny typed client over fetch: paths, bodies and answers come from the generated
// contract (clients/ts/src/api.d.ts), so a route or schema change that breaks the console
// fails `npm run console:check` instead of failing in a browser.
import type { components, paths } from "@tridium/api-types";

export type Schemas = components["schemas"];
type Method = "get" | "post" | "put" | "patch" | "delete";
type Path = keyof paths;
type Op<P extends Path, M extends Method> = NonNullable<paths[P][M]>;

type JsonOf<R> = R extends { content: { "application/json": infer T } } ? T : never;
/** The JSON of an operation's success answer (200, 201 or 202). */
export type Ok<P extends Path, M extends Method> =
  Op<P, M> extends { responses: infer R }
    ? R extends { 200: infer A }
      ? JsonOf<A>
      : R extends { 201: infer A }
        ? JsonOf<A>
        : R extends { 202: infer A }
          ? JsonOf<A>
          : never
    : never;
/** The JSON request body of an operation. */
export type BodyOf<P extends Path, M extends Method> =
  Op<P, M> extends { requestBody: { content: { "application/json": infer B } } } ? B : never;
type PathParams<P extends Path, M extends Method> =
  Op<P, M> extends { parameters: { path: infer X } } ? (X extends Record<string, unknown> ? X : never) : never;
type QueryParams<P extends Path, M extends Method> =
  Op<P, M> extends { parameters: { query?: infer X } } ? NonNullable<X> : never;

export interface CallOptions<P extends Path, M extends Method> {
  params?: PathParams<P, M>;
  query?: QueryParams<P, M>;
  body?: BodyOf<P, M> | FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** An error answer of the API: `{"error": {code, message, details}}` (or a transport failure). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Session {
  token: string;
  tenant: string;
}

function render(path: string, params: Record<string, unknown> | undefined): string {
  return path.replace(/\{(\w+)\}/g, (_, key: string) => encodeURIComponent(String(params?.[key] ?? "")));
}

function queryString(query: Record<string, unknown> | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as Schemas["ErrorBody"];
    return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
  }
}

export class Api {
  constructor(readonly session: Session) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.session.token}`, "X-Tenant-Id": this.session.tenant, ...extra };
  }

  /** The raw answer (for streams): throws ApiError on a non-2xx status. */
  async fetch<P extends Path, M extends Method>(method: M, path: P, opts: CallOptions<P, M> = {}): Promise<Response> {
    const url = render(path, opts.params as Record<string, unknown> | undefined) + queryString(opts.query as Record<string, unknown> | undefined);
    const headers = this.headers(opts.headers);
    let body: BodyInit | undefined;
    if (opts.body instanceof FormData) {
      body = opts.body;
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
    const init: RequestInit = { method: method.toUpperCase(), headers };
    if (body !== undefined) init.body = body;
    if (opts.signal) init.signal = opts.signal;
    const response = await fetch(url, init);
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async call<P extends Path, M extends Method>(method: M, path: P, opts: CallOptions<P, M> = {}): Promise<Ok<P, M>> {
    const response = await this.fetch(method, path, opts);
    return (await response.json()) as Ok<P, M>;
  }
}

export function newKey(): string {
  return crypto.randomUUID();
}
