"""Priority and task rules: which model serves a request, given what it asked for.

A task rule names the model outright (`summarize: gpt-4o-mini`); a priority rule
maps the asked (or task's) model to a cheaper one (`low: {gpt-4o: gpt-4o-mini}`).
One step each, never chained, so a rule reads as what it does. A priority or task
without a rule leaves the model as asked.
"""

from __future__ import annotations

from tollgate.routing_config import Priority, RoutingRules


def choose_model(
    rules: RoutingRules, asked: str, priority: Priority | None = None, task: str | None = None
) -> str:
    model = rules.tasks.get(task, asked) if task else asked
    if priority is not None:
        model = rules.priorities.get(priority, {}).get(model, model)
    return model
