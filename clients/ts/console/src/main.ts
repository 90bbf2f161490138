// Tridium operator console: sign in with a bearer token, then the panels. The token stays
// in this tab's sessionStorage (gone when the tab closes) and is sent as Authorization.
import { Api, type Schemas, type Session } from "./api.js";
import * as chat from "./chat.js";
import { $, errorText, setText, show } from "./dom.js";
import * as kpi from "./kpi.js";
import * as knowledge from "./knowledge.js";
import * as pay from "./pay.js";

const SESSION = "tridium.console.session";
let api: Api | null = null;

function current(): Api {
  if (!api) throw new Error("not signed in");
  return api;
}

function describe(me: Schemas["Me"]): string {
  const t = me.tenant;
  return `${me.email ?? me.user_id} — ${t ? `${t.name} (${t.slug}, ${t.role})` : "no tenant"}`;
}

async function signIn(session: Session): Promise<void> {
  const candidate = new Api(session);
  const me = await candidate.call("get", "/me");
  if (!session.tenant || !me.tenant) {
    const first = me.memberships[0];
    if (!first) throw new Error("this token is not a member of any tenant");
    const tenant = me.memberships.find((m) => m.slug === session.tenant || m.tenant_id === session.tenant) ?? first;
    session = { token: session.token, tenant: tenant.slug };
    me.tenant = tenant;
  }
  api = new Api(session);
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  setText("who", describe(me));
  show("login", false);
  show("panels", true);
  show("sign-out", true);
  await Promise.allSettled([knowledge.loadSpaces(api), kpi.refresh(api), chat.resume(api)]);
}

function signOut(): void {
  sessionStorage.removeItem(SESSION);
  chat.forget();
  api = null;
  setText("who", "");
  show("panels", false);
  show("sign-out", false);
  show("login", true);
}

function on(id: string, handler: () => unknown): void {
  $(id).addEventListener("click", (e) => {
    e.preventDefault();
    void handler();
  });
}

function init(): void {
  on("sign-in", async () => {
    setText("login-error", "");
    const token = $<HTMLTextAreaElement>("token").value.trim();
    const tenant = $<HTMLInputElement>("tenant").value.trim();
    try {
      await signIn({ token, tenant });
    } catch (err) {
      setText("login-error", errorText(err));
    }
  });
  on("sign-out", signOut);
  on("create-space", () => knowledge.createSpace(current()));
  on("upload", () => knowledge.upload(current()));
  on("ask", () => chat.ask(current()));
  on("disconnect", chat.disconnect);
  on("reconnect", () => chat.resume(current()));
  on("checkout", () => pay.checkout(current()));
  on("refresh-kpis", () => kpi.refresh(current()));
  const saved = sessionStorage.getItem(SESSION);
  if (saved) {
    signIn(JSON.parse(saved) as Session).catch((err: unknown) => {
      setText("login-error", errorText(err));
      signOut();
    });
  }
}

init();
