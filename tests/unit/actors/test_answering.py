"""The offline answerer's ranking rules and Luddy's conversation decisions, with no Ray,
Postgres or Redis. Examples are the issue's (a coffee roaster), not the benchmark's sets."""

from __future__ import annotations

from typing import Any

from actors.answering import (
    answer,
    asked,
    asks_for_name,
    pick,
    read_message,
    remembered_name,
    split_question,
    units,
)
from actors.luddy import LEGACY_ANSWERER, Luddy
from actors.planning import ToolOutcome, Turn
from actors.tools import REGISTRY, catalog

ALL = frozenset(REGISTRY)

TORRA = (
    "# Visitas guiadas à torrefação\n\n"
    "Recebemos grupos de até 12 pessoas às quintas-feiras.\n"
    "A visita dura 90 minutos e termina com uma degustação.\n"
    "A visita custa R$ 45,00 por pessoa, com café incluso.\n"
)
ASSINATURA = (
    "## Assinatura mensal\n\n"
    "A primeira cobrança é feita no dia da adesão, no cartão de crédito.\n"
    "Depois disso, cobramos todo dia 5 de cada mês.\n"
    "O plano mínimo é de 3 meses e o pacote mínimo é de 2 pacotes de 250 g.\n"
)
TABELA = (
    "| Café | 250 g | 1 kg |\n|---|---|---|\n"
    "| Catuaí Amarelo | R$ 38,00 | R$ 129,00 |\n| Bourbon | R$ 42,00 | R$ 149,00 |\n"
)


def src(n: int, title: str, text: str) -> dict[str, Any]:
    return {"n": n, "title": title, "source": title, "page": None, "text": text}


SOURCES = [src(1, "visitas.md", TORRA), src(2, "assinatura.md", ASSINATURA), src(3, "precos.md", TABELA)]


def test_asked_reads_what_value_the_question_wants() -> None:
    assert asked("Quanto custa a visita?") == {"price"}
    assert asked("qual o valor do pacote?") == {"price"}
    assert "date" in asked("Que dia vocês cobram?")
    assert "date" in asked("Quando tem visita?")
    assert asked("Por quanto tempo dura a visita?") == {"duration"}  # not a count
    assert asked("Quantas pessoas cabem no grupo?") == {"count"}
    assert "count" in asked("qual o pedido mínimo?")
    assert asked("Vocês entregam em Campinas?") == set()
    assert asked("Se eu cancelar pago multa de quanto?") == {"price", "percent", "count"}


def test_the_sentence_with_the_asked_value_beats_the_heading_and_its_neighbours() -> None:
    visit = answer("Quanto custa a visita?", SOURCES)
    assert visit is not None and "R$ 45,00" in visit and "[1]" in visit and "visitas.md" in visit
    day = answer("Que dia vocês cobram a assinatura?", SOURCES)
    assert day is not None and "dia 5" in day
    assert "dia da adesão" not in day.split("Fontes:")[0]
    long = answer("Por quanto tempo dura a visita?", SOURCES)
    assert long is not None and "90 minutos" in long
    group = answer("Quantas pessoas no máximo por grupo de visita?", SOURCES)
    assert group is not None and "12 pessoas" in group


def test_a_heading_is_never_an_answer() -> None:
    only_heading = [src(1, "visitas.md", "# Visitas guiadas à torrefação\n\nVeja abaixo.")]
    assert all("Visitas guiadas" not in u.text for u in units(only_heading))


def test_table_rows_keep_their_column_headers() -> None:
    rows = [u.text for u in units([src(1, "precos.md", TABELA)])]
    assert rows == [
        "Catuaí Amarelo — 250 g: R$ 38,00; 1 kg: R$ 129,00",
        "Bourbon — 250 g: R$ 42,00; 1 kg: R$ 149,00",
    ]
    got = answer("Qual o preço do Bourbon?", SOURCES)
    assert got is not None and "R$ 149,00" in got and "precos.md" in got


def test_a_two_part_question_joins_two_sources_and_cites_both() -> None:
    assert split_question("Quanto custa a visita e que dia vocês cobram a assinatura?") == [
        "Quanto custa a visita",
        "que dia vocês cobram a assinatura",
    ]
    got = answer("Quanto custa a visita e que dia vocês cobram a assinatura?", SOURCES)
    assert got is not None and "R$ 45,00" in got and "dia 5" in got
    assert "visitas.md" in got and "assinatura.md" in got
    # A trailing remark is not a second question.
    assert split_question("Quanto custa a visita? Quero ir com a família") == [
        "Quanto custa a visita? Quero ir com a família"
    ]


def test_nothing_relevant_or_an_unknown_name_gives_no_answer() -> None:
    assert answer("Vocês vendem passagens aéreas?", SOURCES) is None
    assert pick("Quanto custa o café Geisha Esmeralda?", SOURCES) == []  # a name no source has
    assert answer("", SOURCES) is None


def test_greetings_and_names_are_read_out_of_the_message() -> None:
    m = read_message("Oi, meu nome é Joana Prates e quero saber dos planos")
    assert m.greeting and m.name == "Joana Prates" and m.question == "quero saber dos planos"
    assert read_message("Me chamo Bruno.") == type(m)(greeting=True, name="Bruno", question="")
    assert read_message("Bom dia! Tudo bem?").question == ""
    assert read_message("Sou do RH de uma empresa, tem plano corporativo?").name is None
    hello = read_message("Boa tarde, aqui é a Carla Menezes. Vocês abrem sábado?")
    assert hello.name == "Carla Menezes" and hello.question == "Vocês abrem sábado?"
    assert asks_for_name("Qual é o meu nome?") and asks_for_name("vc lembra como eu me chamo?")
    assert not asks_for_name("Qual o nome do plano mais barato?")
    history = [("user", "Oi, meu nome é Joana Prates"), ("assistant", "Olá, Joana!"), ("user", "e o preço?")]
    assert remembered_name(history) == "Joana Prates"
    assert remembered_name([("assistant", "meu nome é Luddy")]) is None


def turn(text: str, outcomes: list[ToolOutcome] | None = None, **kw: Any) -> Turn:
    return Turn("luddy", text, {}, kw.get("history", []), outcomes or [], ALL & catalog("luddy"), kw.get("g", {}))


def kb(query: str, sources: list[dict[str, Any]]) -> ToolOutcome:
    return ToolOutcome("kb_search", {"query": query}, {"sources": sources})


def test_luddy_answers_a_greeting_with_a_question_inside_and_greets_by_name() -> None:
    text = "Oi, meu nome é Joana Prates e quero saber quanto custa a visita"
    plan = Luddy().plan(turn(text))
    assert plan.calls == [("kb_search", {"query": "quero saber quanto custa a visita", "k": 6})]
    done = Luddy().plan(turn(text, [kb("quero saber quanto custa a visita", SOURCES)]))
    assert done.text is not None and done.text.startswith("Olá, Joana!") and "R$ 45,00" in done.text
    hello = Luddy().plan(turn("Olá! Me chamo Bruno Tavares."))
    assert hello.calls == [] and hello.text == "Olá, Bruno! Como posso ajudar?"


def test_luddy_remembers_the_name_from_the_thread() -> None:
    history = [("user", "Oi, meu nome é Joana Prates e quero saber dos planos"), ("assistant", "Olá, Joana! …")]
    assert Luddy().plan(turn("Qual é o meu nome?", history=history)).text == "Seu nome é Joana Prates."
    unknown = Luddy().plan(turn("Qual é o meu nome?")).text
    assert unknown is not None and "ainda não me disse" in unknown


def test_luddy_hands_over_only_when_asked_or_when_nothing_is_found() -> None:
    assert Luddy().plan(turn("Quero falar com um atendente")).calls[0][0] == "handoff_to_human"
    nothing = Luddy().plan(turn("Vocês vendem passagens?", [kb("Vocês vendem passagens?", SOURCES)]))
    assert nothing.calls == [("handoff_to_human", {"reason": "low_confidence"})]
    found = Luddy().plan(turn("Quanto custa a visita?", [kb("Quanto custa a visita?", SOURCES)]))
    assert found.calls == [] and found.text is not None and "R$ 45,00" in found.text


def test_the_legacy_answerer_stays_selectable_for_the_baseline() -> None:
    text = "Oi, meu nome é Joana Prates e quero saber quanto custa a visita"
    plan = Luddy().plan(turn(text, g={"answerer": LEGACY_ANSWERER}))
    assert plan.calls == [("kb_search", {"query": text, "k": 4})]
