// DOM helpers: the page (serve/console/index.html) declares every element these look up.
export function $(id) {
    const el = document.getElementById(id);
    if (!el)
        throw new Error(`missing element #${id}`);
    return el;
}
export function show(id, visible) {
    $(id).hidden = !visible;
}
export function setText(id, text) {
    $(id).textContent = text;
}
export function errorText(err) {
    if (err instanceof Error) {
        const code = err.code;
        return typeof code === "string" ? `${code}: ${err.message}` : err.message;
    }
    return String(err);
}
const brl = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL" });
export function money(cents) {
    return brl.format(cents / 100);
}
