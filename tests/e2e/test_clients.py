"""The client libraries people point at tollgate, against the running suite and its
`demo` model: LangChain (ChatOpenAI plain, streamed with usage, with tools and with
structured output; ChatAnthropic on /v1/messages), LiteLLM's SDK, the OpenAI Agents
SDK (structured output and a function tool), LlamaIndex's OpenAILike, instructor and
the openai SDK's `parse`. Each makes real calls, and the ledger bills what the client
saw wherever the client shows usage. Nothing reaches the internet: every client is
pointed at the local gateway, telemetry and tracing are off."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, SecretStr

from tests.e2e.openai_sdk_helpers import unique, wait_rows
from tests.e2e.suite import Suite, start_suite, stop_suite

# Before any client library is imported: LiteLLM would fetch its model price map from
# the internet, the Agents SDK would send its traces to OpenAI, LangSmith would trace.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

QUESTION = "What is a token bucket?"


class City(BaseModel):
    """A city and what it is like."""

    name: str
    country: str = Field(min_length=2, max_length=2)
    population: int = Field(ge=0)
    coastal: bool
    districts: list[str]
    climate: Literal["dry", "wet", "mild"]
    mayor: str | None = None


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The weather in a city."""
    return f"sunny, 21{unit} in {city}"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home = tmp_path_factory.mktemp("clients")
    running = start_suite(home, f"sqlite:///{home / 'tollgate.db'}")
    yield running
    stop_suite(running)


def _key(suite: Suite, name: str) -> tuple[str, str]:
    return suite.project_with_key(unique(name))


def _billed(suite: Suite, project: str, count: int) -> list[tuple[int, int]]:
    """The (prompt, completion) tokens of the project's ledger rows, in call order."""
    rows = wait_rows(suite, project, count)
    assert len(rows) == count, rows
    assert all(r.status == "ok" and r.usage_source == "provider" for r in rows)
    rows.sort(key=lambda r: r.started_at)
    return [(r.prompt_tokens, r.completion_tokens) for r in rows]


def _root(suite: Suite) -> str:
    return suite.base_url.removesuffix("/v1")


def test_langchain_chat_openai(suite: Suite) -> None:
    from langchain_openai import ChatOpenAI

    project, secret = _key(suite, "langchain")
    key = SecretStr(secret)
    llm = ChatOpenAI(model="demo", base_url=suite.base_url, api_key=key, max_retries=0)
    plain = llm.invoke(QUESTION)
    assert isinstance(plain.content, str) and QUESTION in plain.content

    streaming = ChatOpenAI(
        model="demo", base_url=suite.base_url, api_key=key, max_retries=0, stream_usage=True
    )
    chunks = list(streaming.stream(QUESTION))
    assert len(chunks) > 3
    streamed: Any = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk
    assert streamed.content == plain.content

    called = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Paris?")
    (call,) = called.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    assert get_weather(**call["args"]).startswith("sunny")

    structured = llm.with_structured_output(City, include_raw=True).invoke("Describe Lyon.")
    city = structured["parsed"]
    assert isinstance(city, City) and structured["parsing_error"] is None

    seen = [
        (m.usage_metadata["input_tokens"], m.usage_metadata["output_tokens"])
        for m in (plain, streamed, called, structured["raw"])
        if m.usage_metadata is not None
    ]
    assert len(seen) == 4  # streaming shows usage with stream_usage=True
    assert _billed(suite, project, 4) == seen


def test_langchain_chat_anthropic_on_the_messages_api(suite: Suite) -> None:
    from langchain_anthropic import ChatAnthropic

    project, secret = _key(suite, "lc-anthropic")
    llm = ChatAnthropic(  # type: ignore[call-arg]
        model="demo",
        base_url=_root(suite),
        api_key=SecretStr(secret),
        max_retries=0,
        max_tokens=200,
    )
    reply = llm.invoke(QUESTION)
    assert QUESTION in str(reply.content)
    chunks = list(llm.stream(QUESTION))
    streamed: Any = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk
    called = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Paris?")
    assert called.tool_calls[0]["name"] == "get_weather"
    assert isinstance(called.tool_calls[0]["args"]["city"], str)
    seen = [
        (m.usage_metadata["input_tokens"], m.usage_metadata["output_tokens"])
        for m in (reply, streamed, called)
        if m.usage_metadata is not None
    ]
    assert len(seen) == 3
    assert _billed(suite, project, 3) == seen


def test_litellm_sdk_as_a_client(suite: Suite) -> None:
    import litellm

    litellm.telemetry = False
    project, secret = _key(suite, "litellm")
    messages = [{"role": "user", "content": QUESTION}]
    reply: Any = litellm.completion(
        model="openai/demo", api_base=suite.base_url, api_key=secret, messages=messages
    )
    assert QUESTION in reply.choices[0].message.content
    chunks: Any = litellm.completion(
        model="openai/demo",
        api_base=suite.base_url,
        api_key=secret,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in chunks:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = getattr(chunk, "usage", None) or usage
    assert text == reply.choices[0].message.content and usage is not None
    seen = [
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (usage.prompt_tokens, usage.completion_tokens),
    ]
    assert _billed(suite, project, 2) == seen


def _agents_client(suite: Suite, secret: str) -> Any:
    import agents
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    agents.set_default_openai_client(client, use_for_tracing=False)
    return client


def test_openai_agents_sdk_on_chat_completions(suite: Suite) -> None:
    import agents
    from agents import Agent, ModelSettings, Runner, function_tool

    project, secret = _key(suite, "agents")
    _agents_client(suite, secret)
    agents.set_default_openai_api("chat_completions")
    try:
        planner = Agent(name="planner", model="demo", output_type=City)
        planned = Runner.run_sync(planner, "Describe Lyon.")
        assert isinstance(planned.final_output, City)

        forecaster = Agent(
            name="forecaster",
            model="demo",
            tools=[function_tool(get_weather)],
            model_settings=ModelSettings(tool_choice="required"),
        )
        forecast = Runner.run_sync(forecaster, "Weather in Paris?")
    finally:
        agents.set_default_openai_api("responses")
    outputs = [i.output for i in forecast.new_items if i.type == "tool_call_output_item"]
    assert len(outputs) == 1 and str(outputs[0]).startswith("sunny")
    assert "Weather in Paris?" in str(forecast.final_output)  # the demo echoes the question

    billed = _billed(suite, project, 3)  # one structured answer; a tool call, then the answer
    for result, rows in ((planned, billed[:1]), (forecast, billed[1:])):
        usage = result.context_wrapper.usage
        assert usage.requests == len(rows)
        assert (usage.input_tokens, usage.output_tokens) == tuple(map(sum, zip(*rows, strict=True)))


def test_llama_index_openai_like(suite: Suite) -> None:
    from llama_index.core.llms import ChatMessage, MessageRole
    from llama_index.llms.openai_like import OpenAILike

    project, secret = _key(suite, "llama")
    llm = OpenAILike(
        model="demo", api_base=suite.base_url, api_key=secret, is_chat_model=True, max_retries=0
    )
    chat = llm.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert QUESTION in (chat.message.content or "")
    completed = llm.complete(QUESTION)
    assert completed.text == chat.message.content
    seen = [(r.raw.usage.prompt_tokens, r.raw.usage.completion_tokens) for r in (chat, completed)]
    assert _billed(suite, project, 2) == seen


def test_instructor_response_model(suite: Suite) -> None:
    instructor = pytest.importorskip("instructor")  # not in the dev extra: see pyproject
    from openai import OpenAI

    project, secret = _key(suite, "instructor")
    client = instructor.from_openai(OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0))
    city, completion = client.chat.completions.create_with_completion(
        model="demo",
        response_model=City,
        messages=[{"role": "user", "content": "Describe Lyon."}],
        max_retries=0,
    )
    assert isinstance(city, City)
    usage = completion.usage
    assert _billed(suite, project, 1) == [(usage.prompt_tokens, usage.completion_tokens)]


def test_openai_sdk_parse(suite: Suite) -> None:
    from openai import AsyncOpenAI, OpenAI

    project, secret = _key(suite, "parse")
    client = OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    messages: Any = [{"role": "user", "content": "Describe Lyon."}]
    parsed = client.chat.completions.parse(model="demo", messages=messages, response_format=City)
    city = parsed.choices[0].message.parsed
    assert isinstance(city, City)

    async def streamed() -> Any:
        async with AsyncOpenAI(base_url=suite.base_url, api_key=secret, max_retries=0) as aio:
            async with aio.chat.completions.stream(
                model="demo",
                messages=messages,
                response_format=City,
                stream_options={"include_usage": True},
            ) as stream:
                return await stream.get_final_completion()

    final = asyncio.run(streamed())
    assert final.choices[0].message.parsed == city  # the same prompt, the same answer
    usages = [c.usage for c in (parsed, final)]
    seen = [(u.prompt_tokens, u.completion_tokens) for u in usages if u is not None]
    assert _billed(suite, project, 2) == seen


def test_openai_agents_sdk_on_its_default_responses_api(suite: Suite) -> None:
    from agents import Agent, ModelSettings, Runner, function_tool

    project, secret = _key(suite, "agents-responses")
    _agents_client(suite, secret)  # the default API: /v1/responses
    planned = Runner.run_sync(Agent(name="planner", model="demo", output_type=City), "Lyon?")
    assert isinstance(planned.final_output, City)
    forecaster = Agent(
        name="forecaster",
        model="demo",
        tools=[function_tool(get_weather)],
        model_settings=ModelSettings(tool_choice="required"),
    )
    forecast = Runner.run_sync(forecaster, "Weather in Paris?")
    outputs = [i.output for i in forecast.new_items if i.type == "tool_call_output_item"]
    assert len(outputs) == 1 and str(outputs[0]).startswith("sunny")
    assert forecast.final_output

    billed = _billed(suite, project, 3)
    for result, rows in ((planned, billed[:1]), (forecast, billed[1:])):
        usage = result.context_wrapper.usage
        assert usage.requests == len(rows)
        assert (usage.input_tokens, usage.output_tokens) == tuple(map(sum, zip(*rows, strict=True)))
