"""A chat completion as an OpenAI Responses API `response` object (pure functions).

Ids are stable and lead back to the ledger: the response is `resp_<request hex>`,
its message `msg_<request hex>[_n]` and each function call `fc_<request hex>_<n>`.
Usage is the upstream's, renamed: prompt_tokens -> input_tokens (cached reads
included, as OpenAI counts them, and named in input_tokens_details.cached_tokens),
completion_tokens -> output_tokens (reasoning included, named in
output_tokens_details.reasoning_tokens)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from services.gateway.responses.request import JSON, Options
from tollgate.v1 import common_pb2

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def hex_of(request_id: str) -> str:
    return request_id.removeprefix("req_")


def response_id(request_id: str) -> str:
    """The response id for a gateway request id, so a response leads to its ledger row."""
    return "resp_" + hex_of(request_id)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(
    input_tokens: int, output_tokens: int, cached: int, written: int, reasoning: int
) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def usage_from_chat(usage: Any) -> JSON | None:
    """Responses usage for a chat completion's usage block; None when there is none."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details")
    prompt = prompt if isinstance(prompt, dict) else {}
    completion = usage.get("completion_tokens_details")
    completion = completion if isinstance(completion, dict) else {}
    return usage_of(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(prompt.get("cached_tokens")),
        _count(prompt.get("cache_write_tokens")),
        _count(completion.get("reasoning_tokens")),
    )


def usage_from_proto(usage: common_pb2.Usage) -> JSON:
    """Responses usage for what the router recorded (the provider's or its estimate)."""
    return usage_of(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    )


def message_item(item_id: str, text: str, *, refusal: bool = False, done: bool = True) -> JSON:
    part: JSON = (
        {"type": "refusal", "refusal": text}
        if refusal
        else {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    )
    return {
        "type": "message",
        "id": item_id,
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [part] if done else [],
    }


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, *, done: bool = True
) -> JSON:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed" if done else "in_progress",
    }


@dataclass(frozen=True)
class Shell:
    """What every response object of one call shares: its id, what it was asked,
    and when it began."""

    resp_id: str
    request_hex: str
    options: Options
    body: JSON  # the Responses request, for the fields a response echoes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def call_item_id(self, n: int) -> str:
        return f"fc_{self.request_hex}_{n}"

    def message_item_id(self, n: int) -> str:
        return f"msg_{self.request_hex}" + (f"_{n}" if n else "")

    def response(
        self,
        *,
        model: str,
        status: str,
        output: list[JSON],
        usage: JSON | None,
        incomplete_reason: str | None = None,
        error: JSON | None = None,
    ) -> JSON:
        body = self.body
        given_text, given_reasoning = body.get("text"), body.get("reasoning")
        text_config: JSON = given_text if isinstance(given_text, dict) else {}
        reasoning: JSON = given_reasoning if isinstance(given_reasoning, dict) else {}
        return {
            "id": self.resp_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            "instructions": self.options.instructions,
            "max_output_tokens": self.options.max_output_tokens or None,
            "metadata": self.options.metadata,
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
            "previous_response_id": self.options.previous_response_id or None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": None},
            "store": self.options.store,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, **text_config},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": body.get("user"),
        }


def _first_choice(data: JSON) -> JSON:
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else {}
    return first if isinstance(first, dict) else {}


def output_items(shell: Shell, completion: JSON) -> list[JSON]:
    """The output items of a chat completion's first choice: its text (or refusal) as
    a message, then each tool call as a function_call."""
    reply = _first_choice(completion).get("message")
    reply = reply if isinstance(reply, dict) else {}
    output: list[JSON] = []
    content = reply.get("content")
    if isinstance(content, str) and content:
        output.append(message_item(shell.message_item_id(0), content))
    elif isinstance(reply.get("refusal"), str) and reply["refusal"]:
        output.append(message_item(shell.message_item_id(0), reply["refusal"], refusal=True))
    for n, call in enumerate(reply.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else None
        arguments = function.get("arguments")
        output.append(
            function_call_item(
                shell.call_item_id(n),
                call_id or f"call_{shell.request_hex[:20]}_{n}",
                str(function.get("name") or ""),
                arguments if isinstance(arguments, str) else "{}",
            )
        )
    return output


def outcome(finish_reason: Any) -> tuple[str, str | None]:
    """(status, incomplete reason) for a chat finish_reason."""
    reason = INCOMPLETE_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", reason) if reason else ("completed", None)


def served_model(data: JSON, asked: str) -> str:
    served = data.get("model")
    return served if isinstance(served, str) and served else asked


def response(shell: Shell, completion: JSON, fallback_usage: JSON) -> JSON:
    """The Responses API object for a whole chat completion; `fallback_usage` when
    the upstream reported none."""
    status, reason = outcome(_first_choice(completion).get("finish_reason"))
    return shell.response(
        model=served_model(completion, shell.options.model),
        status=status,
        output=output_items(shell, completion),
        usage=usage_from_chat(completion.get("usage")) or fallback_usage,
        incomplete_reason=reason,
    )
