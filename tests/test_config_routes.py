"""The YAML's `routes:`, `routing:` and per-provider proxy and timeout settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollgate.config import ConfigError, Settings, load_settings
from tollgate.routing_config import (
    CooldownSettings,
    DeploymentConfig,
    Priority,
    RetrySettings,
)

PROVIDERS = """
providers:
  - {name: openai-us, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [gpt-4o]}
  - {name: openai-eu, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [gpt-4o-eu]}
  - {name: anthropic, kind: anthropic, models: [claude-sonnet-4-5, claude-haiku-4-5]}
  - {name: gemini, kind: gemini, models: [gemini-2.5-flash]}
"""

ROUTES = """
routes:
  - model: chat-default
    deployments:
      - {provider: openai-us, model: gpt-4o, weight: 3}
      - {provider: openai-eu, model: gpt-4o, weight: 1}
    fallbacks: [claude-sonnet-4-5, gemini-2.5-flash]
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "tollgate.yaml"
    path.write_text(text)
    return load_settings({"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(path)})


def test_the_issues_example_parses_into_routes_and_deployments(tmp_path: Path) -> None:
    settings = load(tmp_path, PROVIDERS + ROUTES + "aliases: {fast: chat-default}\n")
    (route,) = settings.routing.routes
    assert route.model == "chat-default"
    assert route.deployments == (
        DeploymentConfig("openai-us", "gpt-4o", 3.0),
        DeploymentConfig("openai-eu", "gpt-4o", 1.0),
    )
    assert route.fallbacks == ("claude-sonnet-4-5", "gemini-2.5-flash")
    # Defaults when `routing:` is absent.
    assert settings.routing.cooldown == CooldownSettings()
    assert settings.routing.retry == RetrySettings()


def test_todays_router_serves_a_route_by_its_first_deployment(tmp_path: Path) -> None:
    # Until phase 2 wires the route table in, a route (and an alias to it) is served,
    # not refused; a provider used only by a route needs no `models:` list.
    providers = PROVIDERS.replace(", models: [gpt-4o-eu]", "")
    routes = load(tmp_path, providers + ROUTES + "aliases: {fast: chat-default}\n").routes()
    assert (routes["chat-default"].provider, routes["chat-default"].served_model) == (
        "openai-us",
        "gpt-4o",
    )
    assert routes["fast"].provider == "openai-us"
    # An alias to a route is priced as the route's first deployment, not by its name.
    assert routes["fast"].served_model == "gpt-4o"
    assert routes["claude-sonnet-4-5"].provider == "anthropic"


def test_routing_rules_cooldown_and_retry_settings(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        PROVIDERS
        + """
routing:
  priorities:
    low: {gpt-4o: gpt-4o-mini-x, claude-sonnet-4-5: claude-haiku-4-5}
    medium: {gpt-4o: claude-sonnet-4-5}
  tasks: {summarize: claude-haiku-4-5}
  cooldown: {seconds: 5, factor: 3, max_seconds: 60, probe_seconds: 10, recent_errors: 4}
  retry: {backoff_seconds: 0.2, max_backoff_seconds: 1, max_attempts: 3, deadline_seconds: 30}
aliases: {gpt-4o-mini-x: gemini-2.5-flash}
""",
    )
    rules = settings.routing.rules
    assert rules.priorities[Priority.LOW]["gpt-4o"] == "gpt-4o-mini-x"
    assert rules.priorities[Priority.MEDIUM] == {"gpt-4o": "claude-sonnet-4-5"}
    assert rules.tasks == {"summarize": "claude-haiku-4-5"}
    assert settings.routing.cooldown == CooldownSettings(5, 3, 60, 10, 4)
    assert settings.routing.retry == RetrySettings(0.2, 1, 3, 30)


def test_provider_proxy_and_timeouts(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
providers:
  - {name: far, kind: openai, base_url: "https://api.example.com/v1", models: [m],
     proxy: "socks5://user:hunter2@127.0.0.1:1080", connect_timeout_seconds: 3,
     read_timeout_seconds: 45}
  - {name: near, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [n]}
""",
    )
    far, near = settings.providers
    assert far.proxy == "socks5://user:hunter2@127.0.0.1:1080"
    assert (far.connect_timeout_seconds, far.read_timeout_seconds) == (3.0, 45.0)
    assert (near.proxy, near.connect_timeout_seconds, near.read_timeout_seconds) == ("", None, None)
    assert "hunter2" not in repr(settings)


BAD = [
    (
        "routes: [{model: r, deployments: [{provider: nope, model: m}]}]",
        "not a configured provider",
    ),
    ("routes: [{model: r, deployments: [{provider: openai-us, model: m, weight: 0}]}]", "> 0"),
    ("routes: [{model: r, deployments: [{provider: openai-us, model: m, weight: -2}]}]", "> 0"),
    ("routes: [{model: r, deployments: [{provider: openai-us, model: m, weight: x}]}]", "number"),
    (
        "routes: [{model: r, deployments: [{provider: openai-us, model: m, weight: .inf}]}]",
        "finite",
    ),
    ("routes: [{model: r, deployments: []}]", "at least one deployment"),
    ("routes: [{model: r}]", "at least one deployment"),
    ("routes: [{deployments: [{provider: openai-us, model: m}]}]", "needs a model"),
    ("routes: [{model: r, deployments: [{provider: openai-us}]}]", "upstream model"),
    (
        "routes: [{model: r, deployments: [{provider: openai-us, model: m},"
        " {provider: openai-us, model: m}]}]",
        "listed twice",
    ),
    (
        "routes: [{model: r, deployments: [{provider: openai-us, model: m}], fallbacks: [ghost]}]",
        "fallbacks\\[0\\]: 'ghost' is not a model",
    ),
    (
        "routes: [{model: r, deployments: [{provider: openai-us, model: m}], fallbacks: [r]}]",
        "fallbacks loop \\(r -> r\\)",
    ),
    (
        "routes:\n"
        "  - {model: a, deployments: [{provider: openai-us, model: m}], fallbacks: [b]}\n"
        "  - {model: b, deployments: [{provider: anthropic, model: m}], fallbacks: [c]}\n"
        "  - {model: c, deployments: [{provider: gemini, model: m}], fallbacks: [a]}\n",
        "fallbacks loop \\(a -> b -> c -> a\\)",
    ),
    (
        # A loop through an alias is a loop too.
        "aliases: {alias-a: a}\n"
        "routes:\n"
        "  - {model: a, deployments: [{provider: openai-us, model: m}], fallbacks: [b]}\n"
        "  - {model: b, deployments: [{provider: anthropic, model: m}], fallbacks: [alias-a]}\n",
        "fallbacks loop",
    ),
    (
        "aliases: {r: gpt-4o}\nroutes: [{model: r, deployments: [{provider: gemini, model: m}]}]",
        "both a route and an alias",
    ),
    (
        "routes:\n"
        "  - {model: r, deployments: [{provider: gemini, model: m}]}\n"
        "  - {model: r, deployments: [{provider: gemini, model: n}]}\n",
        "listed twice",
    ),
    ("routes: {model: r}", "routes: must be a list"),
    ("routing: {priorities: {urgent: {gpt-4o: gemini-2.5-flash}}}", "not one of high, medium"),
    ("routing: {priorities: {low: {gpt-4o: ghost}}}", "'ghost' is not a model"),
    ("routing: {priorities: {low: {ghost: gpt-4o}}}", "'ghost' is not a model clients"),
    ("routing: {tasks: {summarize: ghost}}", "routing.tasks.summarize"),
    ("routing: {cooldown: {seconds: 0}}", "routing.cooldown.seconds"),
    ("routing: {cooldown: {seconds: 60, max_seconds: 10}}", "max_seconds: must be >= seconds"),
    ("routing: {cooldown: {factor: 0.5}}", "routing.cooldown.factor"),
    ("routing: {cooldown: {sconds: 5}}", "unknown setting 'sconds'"),
    ("routing: {retry: {max_attempts: 0}}", "max_attempts"),
    ("routing: {retry: {deadline_seconds: 9999}}", "must not pass max_call_seconds"),
    ("routing: [1]", "routing: must be a mapping"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_routes_and_routing_are_refused_with_a_clear_message(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, PROVIDERS + text)


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("proxy: ftp://127.0.0.1:21", "not a proxy URL"),
        ("proxy: 'http://'", "not a proxy URL"),
        ("proxy: 'http://[::1'", "not a URL"),
        ("proxy: 8080", "must be a URL"),
        ("connect_timeout_seconds: 0", "connect_timeout_seconds"),
        ("read_timeout_seconds: soon", "read_timeout_seconds"),
    ],
)
def test_bad_proxies_and_timeouts_are_refused(tmp_path: Path, provider: str, message: str) -> None:
    text = (
        "providers:\n"
        f'  - {{name: p, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [m],\n'
        f"     {provider}}}\n"
    )
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, text)


def test_an_unused_provider_without_models_is_still_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="models: name at least one model"):
        # openai-eu lists no models and no route uses it
        load(tmp_path, PROVIDERS.replace(", models: [gpt-4o-eu]", ""))
