"""Priority and task rules choose the configured model, one step each."""

from __future__ import annotations

import pytest

from services.router.routing.rules import choose_model
from tollgate.routing_config import Priority, RoutingRules

RULES = RoutingRules(
    priorities={
        Priority.LOW: {"gpt-4o": "gpt-4o-mini", "claude-sonnet-4-5": "claude-haiku-4-5"},
        Priority.MEDIUM: {"gpt-4o": "claude-sonnet-4-5"},
    },
    tasks={"summarize": "gpt-4o-mini", "code": "claude-sonnet-4-5"},
)


@pytest.mark.parametrize(
    ("asked", "priority", "task", "served"),
    [
        ("gpt-4o", None, None, "gpt-4o"),
        ("gpt-4o", Priority.HIGH, None, "gpt-4o"),  # no rule for high: as asked
        ("gpt-4o", Priority.LOW, None, "gpt-4o-mini"),
        ("gpt-4o", Priority.MEDIUM, None, "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", Priority.LOW, None, "claude-haiku-4-5"),
        ("gemini-2.5-flash", Priority.LOW, None, "gemini-2.5-flash"),  # unmapped model
        ("gpt-4o", None, "summarize", "gpt-4o-mini"),
        ("gpt-4o", None, "translate", "gpt-4o"),  # unknown task: as asked
        ("gpt-4o", None, "", "gpt-4o"),
        # The task's model, then the priority's mapping of it; never chained further.
        ("gpt-4o", Priority.LOW, "code", "claude-haiku-4-5"),
        ("gpt-4o", Priority.MEDIUM, "code", "claude-sonnet-4-5"),
        ("gpt-4o", Priority.HIGH, "summarize", "gpt-4o-mini"),
    ],
)
def test_choose_model(asked: str, priority: Priority | None, task: str | None, served: str) -> None:
    assert choose_model(RULES, asked, priority, task) == served


def test_no_rules_serve_the_asked_model() -> None:
    assert choose_model(RoutingRules(), "gpt-4o", Priority.LOW, "summarize") == "gpt-4o"
