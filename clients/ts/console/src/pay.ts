// Pix checkout: POST /payments/asaas/intent (Idempotency-Key), then GET /payments/{id}
// until the payer has paid (Asaas → webhook → reconcile turns the intent RECEIVED).
import { type Api, ApiError, type Schemas, newKey } from "./api.js";
import { $, errorText, money, setText } from "./dom.js";

type Intent = Schemas["IntentOut"];
const PAID = new Set(["RECEIVED", "CONFIRMED", "RECEIVED_IN_CASH"]);
const FINAL = new Set([...PAID, "REFUNDED", "DELETED", "CANCELLED"]);
const POLL_MS = 1500;
let watching: number | null = null;

function render(intent: Intent): void {
  const status = $("pay-status");
  const paid = PAID.has(intent.status);
  status.textContent = `${money(intent.amountCents)} via ${intent.method}: ${paid ? "paid" : "waiting"} (${intent.status})`;
  status.dataset["status"] = intent.status;
  status.dataset["paid"] = String(paid);
  status.dataset["intentId"] = intent.intentId;
  status.dataset["asaasPaymentId"] = intent.asaasPaymentId ?? "";
  if (intent.pix) {
    $<HTMLImageElement>("pix-qr").src = `data:image/png;base64,${intent.pix.encodedImage}`;
    $<HTMLTextAreaElement>("pix-payload").value = intent.pix.payload;
  }
  $("pix").hidden = !intent.pix || paid;
}

async function poll(api: Api, intentId: string): Promise<void> {
  try {
    const intent = await api.call("get", "/payments/{intent_id}", { params: { intent_id: intentId } });
    render(intent);
    if (FINAL.has(intent.status)) return;
  } catch (err) {
    setText("pay-error", errorText(err));
    if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) return;
  }
  watching = window.setTimeout(() => void poll(api, intentId), POLL_MS);
}

export async function checkout(api: Api): Promise<void> {
  if (watching !== null) window.clearTimeout(watching);
  setText("pay-error", "");
  const body: Schemas["IntentIn"] = {
    amount: $<HTMLInputElement>("pay-amount").value.trim(),
    method: "pix",
    customer: { name: $<HTMLInputElement>("pay-name").value.trim(), cpfCnpj: $<HTMLInputElement>("pay-cpf").value.trim() },
    dueInDays: 1,
  };
  try {
    const intent = await api.call("post", "/payments/asaas/intent", { body, headers: { "Idempotency-Key": newKey() } });
    render(intent);
    watching = window.setTimeout(() => void poll(api, intent.intentId), POLL_MS);
  } catch (err) {
    setText("pay-error", errorText(err));
  }
}
