from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tollgate.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "tollgate.yaml"
    path.write_text(text)
    return {"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(path)}


def test_defaults_run_the_demo_upstream_on_sqlite(tmp_path: Path) -> None:
    settings = load_settings({"TOLLGATE_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'tollgate.db'}"
    assert settings.http_port == 8000
    assert [p.kind for p in settings.providers] == ["demo"]
    assert settings.routes()["demo"].provider == "demo"
    assert settings.listens == settings.addrs
    assert settings.usd_to_cny == Decimal("7.2")


def test_an_openai_key_in_the_environment_configures_openai(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TOLLGATE_HOME": str(tmp_path),
            "OPENAI_API_KEY": "sk-secret",
            "TOLLGATE_OPENAI_MODELS": "gpt-4.1",
        }
    )
    (provider,) = settings.providers
    assert (provider.kind, provider.models, provider.api_key) == (
        "openai",
        ("gpt-4.1",),
        "sk-secret",
    )
    assert "sk-secret" not in repr(settings)


def test_yaml_providers_aliases_and_prices(tmp_path: Path) -> None:
    env = write(
        tmp_path,
        """
providers:
  - {name: up, kind: openai, base_url: "http://127.0.0.1:9/v1/", api_key_env: UP_KEY,
     models: [m1, m2]}
aliases: {fast: m2}
prices:
  - {model: m1, input: 2.5, output: "10", currency: usd}
""",
    )
    settings = load_settings({**env, "UP_KEY": "k", "TOLLGATE_ROUTER_LISTEN": "0.0.0.0:1"})
    assert settings.provider("up").base_url == "http://127.0.0.1:9/v1"
    assert settings.provider("up").api_key == "k"
    assert settings.routes()["fast"].served_model == "m2"
    (price,) = settings.prices
    assert (price.input, price.currency) == (Decimal("2.5"), "USD")
    assert settings.listens["router"] == "0.0.0.0:1"
    assert settings.addrs["router"] == "127.0.0.1:50051"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("providers: [{name: x, kind: bogus, models: [a]}]", "kind"),
        ("providers: [{name: x, kind: openai, models: [a]}]", "base_url"),
        ("providers: [{name: x, kind: openai, base_url: u, models: []}]", "models"),
        ("aliases: {fast: nowhere}", "no provider serves"),
        ("prices: [{model: m, input: lots, output: 1}]", "not a decimal"),
        ("[1, 2]", "mapping"),
        ("providers: [", "cannot read"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text)).routes()


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"TOLLGATE_CONFIG": str(tmp_path / "nope.yaml")})


def test_model_names_hold_every_name_a_call_may_carry(tmp_path: Path) -> None:
    # The services preload the tokenizers these names use (tollgate/tokens.py).
    env = write(
        tmp_path,
        """
providers:
  - {name: a, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [m1]}
  - {name: b, kind: openai, base_url: "http://127.0.0.1:9/v1"}
routes:
  - model: chat
    deployments: [{provider: a, model: m1}, {provider: b, model: gpt-4-0613}]
aliases: {fast: chat}
""",
    )
    names = load_settings(env).model_names()
    assert names == {"m1", "chat", "fast", "gpt-4-0613"}


def test_up_mode_is_two_processes_unless_another_is_asked_for(tmp_path: Path) -> None:
    from tollgate.settings.model import UpMode

    base = {"TOLLGATE_HOME": str(tmp_path)}
    assert load_settings(base).up_mode is UpMode.TWO
    assert load_settings({**base, "TOLLGATE_UP_MODE": "one"}).up_mode is UpMode.ONE
    assert load_settings({**base, "TOLLGATE_UP_MODE": " Split "}).up_mode is UpMode.SPLIT
    assert load_settings({**base, "TOLLGATE_UP_MODE": "two"}).up_mode is UpMode.TWO
    with pytest.raises(ConfigError, match="TOLLGATE_UP_MODE: 'three'"):
        load_settings({**base, "TOLLGATE_UP_MODE": "three"})
