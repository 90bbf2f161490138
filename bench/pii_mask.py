"""PII masking cost (knowledge.pii.mask_pii), with card-number detection vs without it.

The replay route masks every string of a conversation, and knowledge ingestion masks whole
documents, so the card (Luhn) pass added in issue 12 is on both paths. Baseline and
candidate run in the same process on the same synthetic corpus: Portuguese chat messages
where one in four carries a CPF, phone, e-mail, card number or an order number that looks
like a card but fails Luhn. Prints a table and writes bench/results/pii_mask.json.

    python -m bench.pii_mask [--messages 5000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import random
import time

from knowledge.pii import ALL_KINDS, PiiKind, mask_pii

from ._common import median, table, write_result

FILLERS = [
    "Oi, tudo bem? Queria saber o horário da unidade Pinheiros no sábado.",
    "Vocês têm plano anual com desconto para pagamento no Pix?",
    "Meu pedido ainda não chegou, podem verificar por favor?",
    "Perfeito, obrigado pela ajuda! Vou fechar hoje mesmo.",
]
PII = [
    "meu CPF é 529.982.247-25",
    "me liga no (11) 98765-4321",
    "manda no maria.silva@example.com",
    "cartão 4111 1111 1111 1111 vence 12/29",
    "protocolo 4111 1111 1111 1112",  # card-shaped, fails Luhn: must stay
]


def corpus(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rnd.choice(FILLERS) for _ in range(rnd.randint(1, 3)))
        if i % 4 == 0:
            text += " " + rnd.choice(PII)
        out.append(text)
    return out


def timed(messages: list[str], kinds: frozenset[PiiKind], rounds: int) -> tuple[float, int]:
    times, masked = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        masked = sum(len(mask_pii(m, kinds).matches) for m in messages)
        times.append(time.perf_counter() - t0)
    return median(times), masked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    messages = corpus(args.messages)
    chars = sum(len(m) for m in messages)
    base_s, base_n = timed(messages, ALL_KINDS - {PiiKind.CARD}, args.rounds)
    cand_s, cand_n = timed(messages, ALL_KINDS, args.rounds)
    rows = [
        {
            "variant": name,
            "messages": len(messages),
            "median_s": round(s, 4),
            "us_per_message": round(s / len(messages) * 1e6, 1),
            "MB_per_s": round(chars / s / 1e6, 2),
            "matches": n,
        }
        for name, s, n in (("without card (baseline)", base_s, base_n), ("with card + Luhn", cand_s, cand_n))
    ]
    ratio = cand_s / base_s
    print(table(rows, ["variant", "messages", "median_s", "us_per_message", "MB_per_s", "matches"]))
    print(f"cost ratio with/without card detection: {ratio:.2f}x")
    path = write_result("pii_mask", {"rows": rows, "ratio": ratio, "chars": chars, "rounds": args.rounds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
