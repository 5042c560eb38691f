"""GET /v1/models/{id} through the whole suite, with the official OpenAI SDK
(`client.models.retrieve`): every model the key may list is retrievable as the same
object, ids with `/` and `:` included, aliases and routes too; a model the key may not
call and one that does not exist get the same 404 `model_not_found`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from services.budget.admin import operations as admin
from services.budget.admin import policies
from tests.e2e.openai_sdk_helpers import client, unique
from tests.e2e.suite import Suite, start_suite, stop_suite

ODD = "acme/demo-7b:q4"  # a slash and a colon, as some upstreams name models
CONFIG = (
    "providers:\n"
    "  - {name: demo, kind: demo, models: [demo]}\n"
    f"  - {{name: local, kind: demo, models: ['{ODD}']}}\n"
    "routes:\n"
    "  - model: chat-default\n"
    "    deployments: [{provider: demo, model: demo}]\n"
    "aliases:\n"
    "  fast: demo\n"
)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("suite-models")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}", config=CONFIG)
    yield running
    stop_suite(running)


def key(suite: Suite, allowed: list[str] | None = None) -> str:
    name = unique("models")
    admin.create_project(suite.engine, name)
    secret = admin.create_key(suite.engine, name).secret
    if allowed is not None:
        policies.set_project_policy(suite.engine, name, allowed_models=allowed)
    return secret


def not_found(sdk: openai.OpenAI, model: str) -> dict[str, Any]:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve(model)
    assert caught.value.status_code == 404
    assert caught.value.request_id  # the x-request-id header
    body = caught.value.body
    assert isinstance(body, dict)
    return body


def test_every_listed_model_is_retrievable_as_the_same_object(suite: Suite) -> None:
    sdk = client(suite, key(suite))
    listed = {m.id: m for m in sdk.models.list()}
    assert {"demo", ODD, "chat-default", "fast"} <= set(listed)
    for name, entry in listed.items():
        model = sdk.models.retrieve(name)
        assert model.model_dump() == entry.model_dump()
        assert (model.id, model.object) == (name, "model")
    assert sdk.models.retrieve(ODD).owned_by == "local"
    assert sdk.models.retrieve("fast").owned_by == "demo"


def test_the_odd_id_is_one_path_whether_escaped_or_not(suite: Suite) -> None:
    secret = key(suite)
    headers = {"Authorization": f"Bearer {secret}"}
    for path in ["acme/demo-7b:q4", "acme%2Fdemo-7b%3Aq4"]:
        reply = httpx.get(f"{suite.base_url}/models/{path}", headers=headers)
        assert reply.status_code == 200, reply.text
        assert reply.json()["id"] == ODD


def test_a_model_the_key_may_not_call_looks_like_one_that_does_not_exist(suite: Suite) -> None:
    sdk = client(suite, key(suite, allowed=["demo"]))
    assert [m.id for m in sdk.models.list()] == ["demo"]
    assert sdk.models.retrieve("demo").id == "demo"
    refused = not_found(sdk, ODD)
    missing = not_found(sdk, "acme/no-such:model")
    assert refused["code"] == missing["code"] == "model_not_found"
    assert refused["message"].replace(ODD, "X") == missing["message"].replace(
        "acme/no-such:model", "X"
    )
    assert {k: v for k, v in refused.items() if k != "message"} == {
        k: v for k, v in missing.items() if k != "message"
    }
    # An open key gets the same 404 for a model nobody serves.
    assert not_found(client(suite, key(suite)), "acme/no-such:model") == missing


def test_a_bad_key_or_a_hostile_id_is_refused_cleanly(suite: Suite) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(suite, "tg-not-a-key").models.retrieve("demo")
    assert caught.value.request_id
    headers = {"Authorization": f"Bearer {key(suite)}"}
    for path in ["x" * 5000, "a%00b", "%ED%A0%80", "%FF"]:
        reply = httpx.get(f"{suite.base_url}/models/{path}", headers=headers)
        assert reply.status_code == 404, (path, reply.text)
        assert reply.json()["error"]["code"] == "model_not_found"
