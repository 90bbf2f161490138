// Pix checkout: POST /payments/asaas/intent (Idempotency-Key), then GET /payments/{id}
// until the payer has paid (Asaas → webhook → reconcile turns the intent RECEIVED).
import { ApiError, newKey } from "./api.js";
import { $, errorText, money, setText } from "./dom.js";
const PAID = new Set(["RECEIVED", "CONFIRMED", "RECEIVED_IN_CASH"]);
const FINAL = new Set([...PAID, "REFUNDED", "DELETED", "CANCELLED"]);
const POLL_MS = 1500;
let watching = null;
function render(intent) {
    const status = $("pay-status");
    const paid = PAID.has(intent.status);
    status.textContent = `${money(intent.amountCents)} via ${intent.method}: ${paid ? "paid" : "waiting"} (${intent.status})`;
    status.dataset["status"] = intent.status;
    status.dataset["paid"] = String(paid);
    status.dataset["intentId"] = intent.intentId;
    status.dataset["asaasPaymentId"] = intent.asaasPaymentId ?? "";
    if (intent.pix) {
        $("pix-qr").src = `data:image/png;base64,${intent.pix.encodedImage}`;
        $("pix-payload").value = intent.pix.payload;
    }
    $("pix").hidden = !intent.pix || paid;
}
async function poll(api, intentId) {
    try {
        const intent = await api.call("get", "/payments/{intent_id}", { params: { intent_id: intentId } });
        render(intent);
        if (FINAL.has(intent.status))
            return;
    }
    catch (err) {
        setText("pay-error", errorText(err));
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429)
            return;
    }
    watching = window.setTimeout(() => void poll(api, intentId), POLL_MS);
}
export async function checkout(api) {
    if (watching !== null)
        window.clearTimeout(watching);
    setText("pay-error", "");
    const body = {
        amount: $("pay-amount").value.trim(),
        method: "pix",
        customer: { name: $("pay-name").value.trim(), cpfCnpj: $("pay-cpf").value.trim() },
        dueInDays: 1,
    };
    try {
        const intent = await api.call("post", "/payments/asaas/intent", { body, headers: { "Idempotency-Key": newKey() } });
        render(intent);
        watching = window.setTimeout(() => void poll(api, intent.intentId), POLL_MS);
    }
    catch (err) {
        setText("pay-error", errorText(err));
    }
}
