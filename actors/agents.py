"""The three agent classes by name."""

from __future__ import annotations

from .base import BaseAgent
from .clio import Clio
from .lucy import Lucy
from .luddy import Luddy

AGENT_CLASSES: dict[str, type[BaseAgent]] = {"luddy": Luddy, "lucy": Lucy, "clio": Clio}

__all__ = ["AGENT_CLASSES", "Clio", "Lucy", "Luddy"]
