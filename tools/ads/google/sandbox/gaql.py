"""The subset of GAQL (Google Ads Query Language) the sandbox understands.

::

    SELECT <field> [, <field>]* FROM campaign | ad_group | ad_group_ad
    [WHERE <condition> [AND <condition>]*]
    condition := <field> = <literal> | segments.date BETWEEN 'YYYY-MM-DD' AND 'YYYY-MM-DD'
    literal   := 'text' | "text" | 123 | ENUM_CONSTANT

Anything else (OR, ORDER BY, LIMIT, PARAMETERS, IN, LIKE, DURING, other resources, other
fields) is refused with a ``QueryError`` reason Google defines (``EXPECTED_SELECT``,
``EXPECTED_FROM``, ``UNRECOGNIZED_FIELD``, ``PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE``,
``PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE``, ``UNEXPECTED_INPUT``,
``INVALID_DATE_FORMAT``, ``EXPECTED_FILTERS_ON_DATE_RANGE``, ``UNEXPECTED_END_OF_QUERY``,
``STRING_NOT_TERMINATED``, ``BAD_VALUE``) — the reason names are Google's; which one
Google would pick for a given malformed query is our best guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

RESOURCES = ("campaign", "ad_group", "ad_group_ad")

METRICS = frozenset(
    {
        "metrics.impressions",
        "metrics.clicks",
        "metrics.cost_micros",
        "metrics.conversions",
        "metrics.conversions_value",
    }
)
SEGMENTS = frozenset({"segments.date"})
_CAMPAIGN = frozenset(
    {
        "campaign.id",
        "campaign.name",
        "campaign.status",
        "campaign.resource_name",
        "campaign.campaign_budget",
        "campaign.advertising_channel_type",
    }
)
_BUDGET = frozenset({"campaign_budget.id", "campaign_budget.amount_micros", "campaign_budget.resource_name"})
_AD_GROUP = frozenset(
    {"ad_group.id", "ad_group.name", "ad_group.status", "ad_group.resource_name", "ad_group.campaign"}
)
_AD_GROUP_AD = frozenset(
    {
        "ad_group_ad.ad.id",
        "ad_group_ad.ad.name",
        "ad_group_ad.status",
        "ad_group_ad.resource_name",
        "ad_group_ad.ad_group",
        "ad_group_ad.ad.final_urls",
    }
)
ATTRIBUTES: dict[str, frozenset[str]] = {
    "campaign": _CAMPAIGN | _BUDGET,
    "ad_group": _AD_GROUP | _CAMPAIGN,
    "ad_group_ad": _AD_GROUP_AD | _AD_GROUP | _CAMPAIGN,
}
ALL_FIELDS = _CAMPAIGN | _BUDGET | _AD_GROUP | _AD_GROUP_AD | METRICS | SEGMENTS


class QueryError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    resource: str
    equals: tuple[tuple[str, str | int], ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    metrics: tuple[str, ...] = field(default=())

    @property
    def by_date(self) -> bool:
        return "segments.date" in self.fields


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<op>!=|<=|>=|=|<|>|,|\(|\))
      | (?P<bad>['"])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-space
            raise QueryError("UNEXPECTED_INPUT", f"Unexpected input at {pos}.")
        kind = m.lastgroup or "other"
        if kind == "bad":
            raise QueryError("STRING_NOT_TERMINATED", "A string literal is not terminated.")
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("UNEXPECTED_END_OF_QUERY", "The query ended unexpectedly.")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "name" and tok[1].upper() == word:
            self.i += 1
            return True
        return False

    def field_name(self) -> str:
        kind, value = self.take()
        if kind != "name":
            raise QueryError("UNEXPECTED_INPUT", f"Expected a field name, got {value!r}.")
        return value

    def literal(self) -> str | int:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1]
        if kind == "num":
            return int(value) if value.lstrip("-").isdigit() else value
        if kind == "name" and re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            return value
        raise QueryError("BAD_VALUE", f"Bad value {value!r}.")


def _day(value: str | int) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise QueryError("INVALID_DATE_FORMAT", f"Invalid date {value!r}; expected 'YYYY-MM-DD'.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError("INVALID_DATE_FORMAT", f"Invalid date {value!r}.") from None


def parse(text: str) -> Query:
    p = _Parser(text)
    if not p.keyword("SELECT"):
        raise QueryError("EXPECTED_SELECT", "Expected SELECT.")
    fields = [p.field_name()]
    while (tok := p.peek()) is not None and tok == ("op", ","):
        p.take()
        fields.append(p.field_name())
    if not p.keyword("FROM"):
        raise QueryError("EXPECTED_FROM", "Expected FROM.")
    resource = p.field_name()
    if resource not in RESOURCES:
        raise QueryError(
            "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Resource {resource!r} in the FROM clause is not supported by this sandbox.",
        )
    for f in fields:
        if f not in ALL_FIELDS:
            raise QueryError("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{f}'.")
        if f not in METRICS and f not in SEGMENTS and f not in ATTRIBUTES[resource]:
            raise QueryError(
                "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE",
                f"Cannot select a field of an incompatible resource: '{f}' from {resource}.",
            )
    if len(set(fields)) != len(fields):
        raise QueryError("UNEXPECTED_INPUT", "A field is selected twice.")
    equals: list[tuple[str, str | int]] = []
    date_from = date_to = None
    if p.keyword("WHERE"):
        while True:
            name = p.field_name()
            if name not in ALL_FIELDS:
                raise QueryError("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.")
            if name not in METRICS and name not in SEGMENTS and name not in ATTRIBUTES[resource]:
                raise QueryError(
                    "PROHIBITED_RESOURCE_TYPE_IN_WHERE_CLAUSE", f"Cannot filter on '{name}' from {resource}."
                )
            if p.keyword("BETWEEN"):
                if name != "segments.date":
                    raise QueryError("UNEXPECTED_INPUT", "BETWEEN is supported on segments.date only in this sandbox.")
                lo = _day(p.literal())
                if not p.keyword("AND"):
                    raise QueryError("EXPECTED_AND", "Expected AND in BETWEEN.")
                hi = _day(p.literal())
                if hi < lo:
                    raise QueryError("INVALID_VALUE_WITH_BETWEEN_OPERATOR", "The end date precedes the start date.")
                date_from, date_to = lo, hi
            else:
                tok = p.take()
                if tok != ("op", "="):
                    raise QueryError("UNEXPECTED_INPUT", f"Operator {tok[1]!r} is not supported by this sandbox.")
                if name == "segments.date":
                    day = _day(p.literal())
                    date_from = date_to = day
                else:
                    equals.append((name, p.literal()))
            if not p.keyword("AND"):
                break
    if (tok := p.peek()) is not None:
        raise QueryError("UNEXPECTED_INPUT", f"Unexpected input {tok[1]!r} (this sandbox supports no {tok[1]!r}).")
    if "segments.date" in fields and date_from is None:
        raise QueryError(
            "EXPECTED_FILTERS_ON_DATE_RANGE", "segments.date is selected: the query needs a finite date range filter."
        )
    return Query(
        fields=tuple(fields),
        resource=resource,
        equals=tuple(equals),
        date_from=date_from,
        date_to=date_to,
        metrics=tuple(f for f in fields if f in METRICS),
    )


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def json_path(field_name: str) -> list[str]:
    """``metrics.cost_micros`` -> ``["metrics", "costMicros"]`` (the REST JSON keys)."""
    return [camel(part) for part in field_name.split(".")]


__all__ = ["ATTRIBUTES", "METRICS", "RESOURCES", "Query", "QueryError", "camel", "json_path", "parse"]
