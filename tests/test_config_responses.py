"""The Responses API's settings: which providers serve it natively (`apis:`, by
default only OpenAI itself) and how long the router keeps stored responses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollgate.config import ConfigError, load_settings


def env(tmp_path: Path, providers: str, **extra: str) -> dict[str, str]:
    path = tmp_path / "tollgate.yaml"
    path.write_text("providers:\n" + providers)
    return {"TOLLGATE_HOME": str(tmp_path), "TOLLGATE_CONFIG": str(path), **extra}


def test_openai_itself_serves_the_responses_api_and_other_servers_say_so(tmp_path: Path) -> None:
    settings = load_settings(
        env(
            tmp_path,
            "  - {name: oai, kind: openai, base_url: 'https://api.openai.com/v1', models: [a]}\n"
            "  - {name: vllm, kind: openai, base_url: 'http://127.0.0.1:9/v1', models: [b]}\n"
            "  - {name: own, kind: openai, base_url: 'http://127.0.0.1:9/v1', models: [c],"
            " apis: [responses]}\n"
            "  - {name: shut, kind: openai, base_url: 'https://api.openai.com/v1', models: [d],"
            " apis: []}\n"
            "  - {name: claude, kind: anthropic, models: [e]}\n",
        )
    )
    assert {p.name: p.apis for p in settings.providers} == {
        "oai": ("responses",),
        "vllm": (),
        "own": ("responses",),
        "shut": (),
        "claude": (),
    }
    from_key = load_settings({"TOLLGATE_HOME": str(tmp_path), "OPENAI_API_KEY": "sk-x"})
    assert from_key.providers[0].apis == ("responses",)
    assert settings.responses_ttl_seconds == 30 * 86400


@pytest.mark.parametrize("apis", ["responses", "[chat]", "[responses, 5]"])
def test_an_unknown_api_is_refused_naming_the_setting(tmp_path: Path, apis: str) -> None:
    given = f"  - {{name: p, kind: openai, base_url: 'http://h/v1', models: [a], apis: {apis}}}\n"
    with pytest.raises(ConfigError, match=r"providers\[0\]\.apis"):
        load_settings(env(tmp_path, given))


def test_the_stored_responses_ttl_is_set_in_days(tmp_path: Path) -> None:
    demo = "  - {name: demo, kind: demo}\n"
    settings = load_settings(env(tmp_path, demo, TOLLGATE_RESPONSES_TTL_DAYS="0.5"))
    assert settings.responses_ttl_seconds == 43200
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="TOLLGATE_RESPONSES_TTL_DAYS|not a number"):
            load_settings(env(tmp_path, demo, TOLLGATE_RESPONSES_TTL_DAYS=bad))
