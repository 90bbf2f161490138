"""AI cost: pricing runs from a versioned price table, monthly budgets, GenAI spans.

``actors.host`` calls this package from three places only: ``gate`` when a run starts,
``price_run`` + ``settle`` when it is recorded, and the span helpers around the run, its
model calls and its tool calls.
"""

from .budget import THRESHOLD_EVENT, Budget, gate, get_budget, month_spend, month_start, set_budget, settle
from .genai import agent_span, record_usage, tool_span, trace_model_calls
from .pricing import Priced, PriceTable, price_run
from .report import daily_costs

__all__ = [
    "THRESHOLD_EVENT",
    "Budget",
    "PriceTable",
    "Priced",
    "agent_span",
    "daily_costs",
    "gate",
    "get_budget",
    "month_spend",
    "month_start",
    "price_run",
    "record_usage",
    "set_budget",
    "settle",
    "tool_span",
    "trace_model_calls",
]
