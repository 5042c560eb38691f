"""Embeddings in the router: each provider's `embed`, the Gemini translation both
ways (golden), base64 encoding, and the one usage record every call leaves."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from services.router.embeddings import embed
from services.router.providers import build_provider
from services.router.providers.base import EmbedCall, Provider, UpstreamError
from services.router.providers.demo import vectors
from services.router.providers.gemini_embed import embed_request, embed_response
from tests.router.recorders import ListRecorder
from tollgate import embeddings
from tollgate.config import ProviderConfig, Route
from tollgate.v1 import common_pb2, metering_pb2, router_pb2
from tollgate_mocks.gemini_upstream import MockGemini
from tollgate_mocks.openai_upstream import MockUpstream

from .harness import UPSTREAM_KEY, FakeMetering, make_settings, run, running_router

GEMINI_MODEL = "gemini-embedding-001"
OPENAI_MODEL = "text-embedding-3-small"
TEXTS = ["The food was delicious.", "The waiter was friendly."]
OK = metering_pb2.CALL_STATUS_OK
FAILED = metering_pb2.CALL_STATUS_FAILED
PROVIDER = common_pb2.USAGE_SOURCE_PROVIDER
ESTIMATED = common_pb2.USAGE_SOURCE_ESTIMATED


@pytest.fixture
def gemini() -> Iterator[Callable[..., MockGemini]]:
    started: list[MockGemini] = []

    def start(**options: Any) -> MockGemini:
        mock = MockGemini(api_key=UPSTREAM_KEY, **options).start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()


def _call(body: dict[str, Any], model: str = GEMINI_MODEL) -> EmbedCall:
    return EmbedCall("req-1", model, body)


def _embed(
    provider: Provider, served_model: str, body: dict[str, Any], model: str = "alias"
) -> tuple[router_pb2.EmbedResponse, list[metering_pb2.UsageRecord]]:
    """One Embed call through the router's logic; its answer and its usage records."""
    recorder = ListRecorder()
    request = router_pb2.EmbedRequest(
        request_id="req-e",
        caller=common_pb2.Caller(project_id="p", key_id="k"),
        model=model,
        body=json.dumps({"model": model, **body}).encode(),
        started_at_unix_ms=1,
    )

    async def go() -> router_pb2.EmbedResponse:
        try:
            routes = {"alias": Route("alias", served_model, provider.name)}
            return await embed(request, routes, {provider.name: provider}, recorder, None)
        finally:
            await provider.aclose()

    return run(go()), recorder.records


def _vectors(answer: router_pb2.EmbedResponse) -> list[list[float]]:
    data = json.loads(answer.body)["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return [
        embeddings.decode_base64(d["embedding"])
        if isinstance(d["embedding"], str)
        else d["embedding"]
        for d in data
    ]


# ---- the demo model's vectors ------------------------------------------------------


@given(st.text(min_size=1), st.integers(min_value=1, max_value=64))
def test_demo_vectors_are_deterministic_float32_unit_vectors(text: str, dimensions: int) -> None:
    vector = vectors.vector(text, dimensions)
    assert len(vector) == dimensions
    assert vector == vectors.vector(text, dimensions)
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)
    # Exact in float32, so base64 (float32) and JSON floats carry the same numbers.
    assert embeddings.decode_base64(embeddings.encode_base64(vector)) == vector
    if dimensions > 1:  # a one-dimensional unit vector is +1 or -1
        assert vector != vectors.vector(text + "!", dimensions)


def test_base64_is_little_endian_float32() -> None:
    assert embeddings.encode_base64([0.5, -0.25]) == "AAAAPwAAgL4="
    assert embeddings.decode_base64("AACAPwAAAAA=") == [1.0, 0.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("one", ["one"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_every_input_form_is_a_list_of_items(value: Any, expected: list[Any]) -> None:
    assert embeddings.input_error(value) is None
    assert embeddings.items(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", [], ["a", ""], ["a", 1], [[1], []], [[1, -2]], [True], {"text": "a"}, None, ["a", [1]]],
)
def test_bad_inputs_are_refused(value: Any) -> None:
    assert embeddings.input_error(value) is not None


def test_too_many_inputs_are_refused() -> None:
    assert embeddings.input_error(["x"] * embeddings.MAX_INPUTS) is None
    assert "2048" in (embeddings.input_error(["x"] * (embeddings.MAX_INPUTS + 1)) or "")


# ---- Gemini translation (golden) ------------------------------------------------------


def test_gemini_request_translation() -> None:
    body = {"model": "alias", "input": TEXTS, "dimensions": 8, "user": "u1", "x_other": 1}
    assert embed_request(body, GEMINI_MODEL) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "The food was delicious."}]},
                "outputDimensionality": 8,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "The waiter was friendly."}]},
                "outputDimensionality": 8,
            },
        ]
    }
    assert embed_request({"input": "hi"}, "models/" + GEMINI_MODEL) == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hi"}]}}
        ]
    }


@pytest.mark.parametrize(("value", "param"), [([1, 2], "input[0]"), ([[1], [2]], "input[0]")])
def test_gemini_refuses_token_ids(value: Any, param: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        embed_request({"input": value}, GEMINI_MODEL)
    assert (caught.value.http_status, caught.value.param) == (400, param)
    assert "token ids" in caught.value.message


GEMINI_ANSWER = {"embeddings": [{"values": [0.5, -0.25]}, {"values": [1.0, 0.0]}]}


def test_gemini_response_translation_without_usage() -> None:
    body, usage = embed_response(GEMINI_ANSWER, _call({"input": ["a b", "c"]}))
    assert usage is None  # the router bills it as estimated
    tokens = embeddings.count_tokens(["a b", "c"], GEMINI_MODEL)
    assert body == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]},
        ],
        "model": GEMINI_MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def test_gemini_response_translation_base64_with_usage() -> None:
    data = {**GEMINI_ANSWER, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}
    body, usage = embed_response(data, _call({"input": ["a", "b"], "encoding_format": "base64"}))
    assert usage == common_pb2.Usage(prompt_tokens=7)
    assert [d["embedding"] for d in body["data"]] == ["AAAAPwAAgL4=", "AACAPwAAAAA="]
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


@pytest.mark.parametrize(
    "data",
    [{"embeddings": [{"values": [1.0]}]}, {"embeddings": [{"values": "x"}, {}]}, {}],
)
def test_gemini_unexpected_answers_are_upstream_failures(data: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError) as caught:
        embed_response(data, _call({"input": ["a", "b"]}))
    assert caught.value.http_status == 502


# ---- each provider, through the router's Embed ---------------------------------------------


def _config(kind: str, base_url: str = "", models: tuple[str, ...] = ()) -> ProviderConfig:
    return ProviderConfig(kind, kind, models, base_url, UPSTREAM_KEY, 5.0)


@pytest.mark.parametrize("with_usage", [False, True])
def test_gemini_embeds_in_base64_and_is_billed(
    with_usage: bool, gemini: Callable[..., MockGemini]
) -> None:
    mock = gemini(embed_usage=with_usage)
    provider = build_provider(_config("gemini", mock.base_url))
    answer, records = _embed(
        provider, GEMINI_MODEL, {"input": TEXTS, "encoding_format": "base64", "dimensions": 8}
    )
    assert answer.WhichOneof("result") == "body"
    assert _vectors(answer) == [vectors.vector(t, 8) for t in TEXTS]
    (sent,) = mock.state.requests
    assert sent == embed_request({"input": TEXTS, "dimensions": 8}, GEMINI_MODEL)
    tokens = embeddings.count_tokens(TEXTS, GEMINI_MODEL)
    assert json.loads(answer.body)["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    (record,) = records
    assert (record.status, record.http_status, record.stream) == (OK, 200, False)
    assert record.usage == common_pb2.Usage(prompt_tokens=tokens)
    assert record.usage_source == (PROVIDER if with_usage else ESTIMATED)
    assert (record.model_requested, record.model_served) == ("alias", GEMINI_MODEL)


def test_openai_compatible_upstream_gets_the_body_as_sent(
    upstreams: Callable[..., MockUpstream],
) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY)
    provider = build_provider(_config("openai", upstream.base_url))
    body = {"input": TEXTS, "encoding_format": "base64", "user": "u1", "x_vendor": {"a": 1}}
    answer, records = _embed(provider, OPENAI_MODEL, body)
    assert _vectors(answer) == [vectors.vector(t) for t in TEXTS]
    assert upstream.state.requests == [{**body, "model": OPENAI_MODEL}]
    reported = json.loads(answer.body)["usage"]["prompt_tokens"]
    assert reported == embeddings.count_tokens(TEXTS, OPENAI_MODEL)
    (record,) = records
    assert (record.status, record.usage_source) == (OK, PROVIDER)
    assert record.usage == common_pb2.Usage(prompt_tokens=reported)


def test_openai_compatible_upstream_without_usage_is_estimated(
    upstreams: Callable[..., MockUpstream],
) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY, omit_usage=True)
    provider = build_provider(_config("openai", upstream.base_url))
    answer, records = _embed(provider, OPENAI_MODEL, {"input": [[1, 2, 3], [4, 5]]})
    assert _vectors(answer) == [vectors.vector([1, 2, 3]), vectors.vector([4, 5])]
    (record,) = records
    assert (record.status, record.usage_source) == (OK, ESTIMATED)
    assert record.usage == common_pb2.Usage(prompt_tokens=5)  # token ids are counted as given


def test_demo_provider_embeds_every_input_form() -> None:
    for value, inputs in (("hi there", ["hi there"]), ([7, 8, 9], [[7, 8, 9]])):
        provider = build_provider(_config("demo", models=("demo",)))
        answer, records = _embed(provider, "demo", {"input": value, "dimensions": 5})
        assert _vectors(answer) == [vectors.vector(i, 5) for i in inputs]
        (record,) = records
        assert record.usage == common_pb2.Usage(
            prompt_tokens=embeddings.count_tokens(inputs, "demo")
        )
        assert (record.status, record.usage_source) == (OK, PROVIDER)


def test_anthropic_has_no_embeddings_and_the_call_costs_nothing() -> None:
    provider = build_provider(_config("anthropic", "http://127.0.0.1:9"))
    answer, records = _embed(provider, "claude-haiku-4-5", {"input": "hi"})
    error = answer.error
    assert (error.http_status, error.type, error.param) == (400, "invalid_request_error", "model")
    assert "Anthropic" in error.message and "embeddings" in error.message
    (record,) = records
    assert (record.status, record.http_status) == (FAILED, 400)
    assert record.usage == common_pb2.Usage()


def test_upstream_failure_is_recorded_as_failed(upstreams: Callable[..., MockUpstream]) -> None:
    upstream = upstreams(api_key=UPSTREAM_KEY, fail_status=500)
    provider = build_provider(_config("openai", upstream.base_url))
    answer, records = _embed(provider, OPENAI_MODEL, {"input": "hi"})
    assert answer.error.http_status == 502
    (record,) = records
    assert (record.status, record.usage) == (FAILED, common_pb2.Usage())


def test_unknown_model_and_bad_input_are_refused_before_any_call() -> None:
    provider = build_provider(_config("demo", models=("demo",)))
    answer, records = _embed(provider, "demo", {"input": "hi"}, model="nope")
    assert (answer.error.http_status, answer.error.code) == (404, "model_not_found")
    provider = build_provider(_config("demo", models=("demo",)))
    answer, more = _embed(provider, "demo", {"input": ["a", 1]})
    assert (answer.error.http_status, answer.error.param) == (400, "input")
    assert records == more == []


def test_google_genai_sdk_reads_the_mock(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini(embed_usage=True)
    options = types.HttpOptions(base_url=mock.root_url, api_version="v1beta")
    client = genai.Client(api_key=UPSTREAM_KEY, http_options=options)
    result = client.models.embed_content(
        model=GEMINI_MODEL,
        contents=TEXTS,
        config=types.EmbedContentConfig(output_dimensionality=6),
    )
    assert [e.values for e in result.embeddings or []] == [vectors.vector(t, 6) for t in TEXTS]
    (sent,) = mock.state.requests
    assert sent["requests"][0]["model"] == f"models/{GEMINI_MODEL}"


def test_embed_over_grpc(tmp_path: Path, metering: FakeMetering) -> None:
    settings = make_settings(
        tmp_path, metering.addr, [{"name": "demo", "kind": "demo", "models": ["demo-embedding"]}]
    )

    async def go() -> tuple[router_pb2.EmbedResponse, metering_pb2.UsageRecord]:
        async with running_router(settings) as harness:
            request = router_pb2.EmbedRequest(
                request_id="req-grpc",
                model="demo-embedding",
                body=json.dumps({"model": "demo-embedding", "input": TEXTS}).encode(),
            )
            answer = await harness.stub.Embed(request, timeout=10)
            return answer, await metering.one("req-grpc")

    answer, record = run(go())
    assert _vectors(answer) == [vectors.vector(t) for t in TEXTS]
    assert record.usage.prompt_tokens == embeddings.count_tokens(TEXTS, "demo-embedding") > 0
    assert (record.status, record.provider) == (OK, "demo")


def test_mock_gemini_embed_content_and_its_errors(gemini: Callable[..., MockGemini]) -> None:
    mock = gemini()
    url = f"{mock.base_url}/models/{GEMINI_MODEL}"
    headers = {"x-goog-api-key": UPSTREAM_KEY}
    one = {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}
    reply = httpx.post(f"{url}:embedContent", json=one, headers=headers, timeout=5)
    assert reply.json() == {"embedding": {"values": vectors.vector("hi", 4)}}
    other_model = {"requests": [{**one, "model": "models/other"}]}
    reply = httpx.post(f"{url}:batchEmbedContents", json=other_model, headers=headers, timeout=5)
    assert reply.status_code == 400
    assert reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    reply = httpx.post(f"{url}:embedContent", json=one, timeout=5)
    assert reply.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
