"""Model policies over the admin API and the CLI: set, show, unknown fields and bad
values refused with a 400 that writes nothing."""

from __future__ import annotations

import json

import pytest

from services.budget.admin import policies
from tests.gateway.conftest import World, ok
from tests.metering.services import Services
from tollgate.cli.main import main


def cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_put_and_get_a_project_policy(world: World) -> None:
    shown = ok(
        world.http.put(
            "/admin/projects/acme/policy",
            json={
                "allowed_models": ["demo", "gpt-4o-mini"],
                "preferred_models": "gpt-4o-mini",
                "max_tokens": 256,
                "compact": True,
                "priority": "low",
                "downgrade_at_percent": 80,
            },
        )
    )
    assert shown["allowed_models"] == ["demo", "gpt-4o-mini"]
    assert shown["preferred_models"] == ["gpt-4o-mini"]
    assert (shown["max_tokens"], shown["compact"], shown["priority"]) == (256, True, "low")
    # Only the fields named change.
    again = ok(world.http.put("/admin/projects/acme/policy", json={"max_tokens": None}))
    assert again["max_tokens"] is None and again["downgrade_at_percent"] == 80
    assert ok(world.http.get("/admin/projects/acme/policy")) == again


@pytest.mark.parametrize(
    "body",
    [
        {"allowed": ["demo"]},
        {"max_tokens": 0},
        {"max_tokens": "many"},
        {"priority": "urgent"},
        {"downgrade_at_percent": 101},
        {"compact": "maybe"},
        {"allowed_models": [1, 2]},
    ],
)
def test_bad_policy_bodies_are_400s_that_write_nothing(world: World, body: dict) -> None:  # type: ignore[type-arg]
    reply = world.http.put("/admin/projects/acme/policy", json=body)
    assert reply.status_code == 400, reply.text
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    assert policies.get_project_policy(world.engine, "acme").updated_at is None


def test_key_policy_over_http(world: World) -> None:
    shown = ok(world.http.put(f"/admin/keys/{world.key}/policy", json={"priority": "low"}))
    assert shown["priority"] == "low" and shown["key_id"] == world.key
    refused = world.http.put(f"/admin/keys/{world.key}/policy", json={"max_tokens": 5})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "max_tokens"
    assert world.http.put("/admin/keys/nope/policy", json={"priority": "low"}).status_code == 404
    assert world.http.get("/admin/projects/nope/policy").status_code == 404


def test_policy_cli(
    world: World,
    services: Services,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in services.client_env().items():
        monkeypatch.setenv(name, value)
    args = [
        "policy",
        "set",
        "--project",
        "acme",
        "--allow",
        "demo,gpt-4o-mini",
        "--max-prompt-tokens",
        "1000",
        "--downgrade-on-forecast",
        "on",
        "--compact",
        "on",
    ]
    assert cli(args) == 0
    assert cli(["policy", "set", "--key", world.key, "--priority", "low"]) == 0
    capsys.readouterr()
    assert cli(["policy", "show", "--project", "acme", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["allowed_models"] == ["demo", "gpt-4o-mini"]
    assert (shown["max_prompt_tokens"], shown["downgrade_on_forecast"], shown["compact"]) == (
        1000,
        True,
        True,
    )
    assert cli(["policy", "set", "--key", world.key, "--max-tokens", "5"]) != 0
    assert cli(["policy", "set", "--project", "acme", "--downgrade-at", "0"]) != 0
