"""The gateway's model policy (services/gateway/policy.py, compaction.py,
policy_cache.py): which model serves a call, the guards, compaction never changing a
word, the policy headers, and the cache dropping a changed policy within a second."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from services.budget.admin import operations as admin
from services.budget.admin import policies
from services.gateway.compaction import compact_messages, fold
from services.gateway.errors import ApiError
from services.gateway.policy import (
    NO_WISH,
    Wish,
    allowed_models,
    check_max_tokens,
    check_prompt_tokens,
    plan_call,
    requested,
)
from services.gateway.policy_cache import KeyRules, PolicyCache, ProjectRules
from tollgate.db import make_engine
from tollgate.routing_config import Priority, RoutingRules
from tollgate.v1 import common_pb2

RULES = RoutingRules(
    priorities={
        Priority.LOW: {"gpt-4o": "gpt-4o-mini", "claude": "haiku"},
        Priority.MEDIUM: {"big": "mid"},
    },
    tasks={"summarize": "gpt-4o-mini"},
)
KNOWN = {"gpt-4o", "gpt-4o-mini", "claude", "haiku", "big", "mid", "demo"}
ANY = ProjectRules()
NO_KEY = KeyRules()


def plan(asked: str, wish: Wish = NO_WISH, project: ProjectRules = ANY, key: KeyRules = NO_KEY):  # type: ignore[no-untyped-def]
    return plan_call(asked, wish, project, key, RULES, KNOWN.__contains__)


def test_the_asked_model_serves_when_no_rule_applies() -> None:
    p = plan("gpt-4o")
    assert (p.model, p.reason, p.priority) == ("gpt-4o", common_pb2.ROUTE_REASON_ASKED, "medium")
    assert p.request_fields()["model_asked"] == ""


def test_a_low_priority_call_takes_the_low_mapping() -> None:
    p = plan("gpt-4o", Wish(priority=Priority.LOW))
    assert (p.model, p.reason) == ("gpt-4o-mini", common_pb2.ROUTE_REASON_PRIORITY)
    fields = p.request_fields()
    assert fields["model_asked"] == "gpt-4o" and fields["priority"] == common_pb2.PRIORITY_LOW


def test_the_keys_default_priority_applies_without_the_header_and_the_header_wins() -> None:
    batch = KeyRules(priority=Priority.LOW)
    assert plan("claude", key=batch).model == "haiku"
    assert plan("claude", Wish(priority=Priority.HIGH), key=batch).model == "claude"
    # The key's default beats the project's.
    project = ProjectRules(priority=Priority.HIGH)
    assert plan("claude", key=batch, project=project).model == "haiku"
    assert plan("claude", project=ProjectRules(priority=Priority.LOW)).model == "haiku"


def test_a_task_names_the_model() -> None:
    p = plan("gpt-4o", Wish(task="summarize"))
    assert (p.model, p.reason) == ("gpt-4o-mini", common_pb2.ROUTE_REASON_TASK)
    assert plan("gpt-4o", Wish(task="unknown-task")).model == "gpt-4o"


def test_a_model_outside_the_allow_list_is_403_model_not_allowed() -> None:
    only_mini = ProjectRules(allowed=frozenset({"gpt-4o-mini"}))
    with pytest.raises(ApiError) as refused:
        plan("gpt-4o", project=only_mini)
    body = refused.value.body()["error"]
    assert refused.value.status == 403
    assert (body["code"], body["param"], body["type"]) == (
        "model_not_allowed",
        "model",
        "invalid_request_error",
    )
    # The key's list applies within the project's.
    with pytest.raises(ApiError):
        plan("gpt-4o", key=KeyRules(allowed=frozenset({"claude"})))
    assert plan("claude", key=KeyRules(allowed=frozenset({"claude"}))).model == "claude"


def test_the_first_allowed_preferred_model_serves_a_model_not_allowed() -> None:
    project = ProjectRules(
        allowed=frozenset({"claude", "demo"}), preferred=("gpt-4o", "no-such", "claude")
    )
    p = plan("big", project=project)
    assert (p.model, p.reason) == ("claude", common_pb2.ROUTE_REASON_PREFERENCE)


def test_a_rule_that_picks_a_model_not_allowed_leaves_the_asked_one() -> None:
    project = ProjectRules(allowed=frozenset({"gpt-4o"}))
    p = plan("gpt-4o", Wish(priority=Priority.LOW), project=project)
    assert (p.model, p.reason) == ("gpt-4o", common_pb2.ROUTE_REASON_ASKED)


def test_the_downgrade_candidate_follows_the_priority() -> None:
    on = ProjectRules(downgrade=True)
    assert plan("claude", Wish(priority=Priority.MEDIUM), project=on).downgrade_to == "haiku"
    assert plan("big", Wish(priority=Priority.MEDIUM), project=on).downgrade_to is None  # -> mid
    assert plan("claude", Wish(priority=Priority.HIGH), project=on).downgrade_to is None
    assert plan("claude", Wish(priority=Priority.MEDIUM)).downgrade_to is None  # no threshold
    down = plan("claude", project=on).downgraded()
    assert (down.model, down.reason) == ("haiku", common_pb2.ROUTE_REASON_DOWNGRADE)
    assert down.request_fields()["model_asked"] == "claude"


def test_models_listed_are_the_allowed_ones() -> None:
    project = ProjectRules(allowed=frozenset({"demo", "claude"}))
    assert allowed_models(project, NO_KEY, KNOWN) == ["claude", "demo"]
    assert allowed_models(project, KeyRules(allowed=frozenset({"demo"})), KNOWN) == ["demo"]
    assert allowed_models(ANY, NO_KEY, KNOWN) == sorted(KNOWN)


def test_guards_are_400s_naming_the_param() -> None:
    capped = ProjectRules(max_tokens=100, max_prompt_tokens=50)
    check_max_tokens(capped, 100)
    check_prompt_tokens(capped, 50)
    with pytest.raises(ApiError) as too_many:
        check_max_tokens(capped, 101, "max_completion_tokens")
    assert (too_many.value.status, too_many.value.param) == (400, "max_completion_tokens")
    with pytest.raises(ApiError) as too_long:
        check_prompt_tokens(capped, 51)
    assert (too_long.value.status, too_long.value.param) == (400, "messages")


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_policy_headers() -> None:
    wish = requested(
        _request(
            {
                "X-Tollgate-Priority": " LOW",
                "X-Tollgate-Task": "summarize",
                "X-Tollgate-Compact": "on",
            }
        )
    )
    assert wish == Wish(Priority.LOW, "summarize", True)
    assert requested(_request({})) == NO_WISH
    for name, value in (
        ("X-Tollgate-Priority", "urgent"),
        ("X-Tollgate-Compact", "yes please"),
        ("X-Tollgate-Task", "x" * 201),
    ):
        with pytest.raises(ApiError) as bad:
            requested(_request({name: value}))
        assert (bad.value.status, bad.value.param) == (400, name)


TEXT = st.text(alphabet=st.sampled_from("ab \t\n\r\u00a0x.,"), max_size=60)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT}
)


@settings(max_examples=300, deadline=None)
@given(st.lists(MESSAGE, min_size=1, max_size=6))
def test_compaction_never_changes_a_word(messages: list[dict[str, Any]]) -> None:
    compacted = compact_messages(messages)
    words = [w for m in messages for w in m["content"].split()]
    assert [w for m in compacted.messages for w in m["content"].split()] == words
    kept = [m for m in messages if m["content"].strip()]
    if not kept:  # all would be dropped: the request is left as it was
        assert compacted.messages == messages and not compacted.changed
        return
    assert len(compacted.messages) == len(kept)
    for message in compacted.messages:
        assert fold(message["content"]) == message["content"]  # folded once is folded


def test_compaction_keeps_messages_that_carry_more_than_text() -> None:
    messages: list[Any] = [
        {"role": "user", "content": "  hello \n\n\n   world  "},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c"}]},
        {"role": "user", "content": "   "},
        {"role": "user", "content": [{"type": "text", "text": " a  b "}, {"type": "image_url"}]},
    ]
    out = compact_messages(messages)
    assert out.changed
    assert out.messages == [
        {"role": "user", "content": "hello\n\nworld"},
        messages[1],
        {"role": "user", "content": [{"type": "text", "text": "a b"}, {"type": "image_url"}]},
    ]


def test_the_policy_cache_drops_a_changed_policy(db_url: str) -> None:
    engine = make_engine(db_url)
    admin.create_project(engine, "acme", currency="CNY")
    project = admin.get_project(engine, "acme").id
    key = admin.create_key(engine, "acme").info.id

    async def run() -> None:
        cache = PolicyCache(engine, watch_seconds=0.05)
        try:
            first, _ = await cache.rules(project, key)
            assert first == ProjectRules()
            await cache.rules(project, key)
            assert cache.lookups == 1  # the second came from the cache
            await cache.check_version()
            policies.set_project_policy(engine, "acme", allowed_models=["demo"], priority="low")
            policies.set_key_policy(engine, key, priority="high")
            for _ in range(40):
                rules, key_rules = await cache.rules(project, key)
                if rules.allowed:
                    break
                await asyncio.sleep(0.05)
            assert rules.allowed == frozenset({"demo"}) and rules.priority is Priority.LOW
            assert key_rules.priority is Priority.HIGH
        finally:
            await cache.aclose()

    asyncio.run(run())
    engine.dispose()
