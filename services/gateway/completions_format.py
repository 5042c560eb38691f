"""OpenAI's legacy completions wire format, to and from chat completions.

    prompts, bodies = chat_bodies(parse_json(raw))    # one chat body a prompt
    reply = completion(ids, model, answers, usage)    # the chat answers, as one completion

Each prompt becomes a chat call with one user message. The fields chat shares
(`max_tokens`, `temperature`, `top_p`, `n`, `stop`, `presence_penalty`,
`frequency_penalty`, `seed`, `logit_bias`, `user`, `stream`) and any field tollgate
does not know pass through to the chat body; `echo` is done here. What a chat model
cannot give is a 400 naming the field (`code: unsupported`): token-id prompts, a
`suffix`, `logprobs`, and a `best_of` above `n`. `max_tokens` defaults to 16, as
OpenAI's completions API does.

A list of N prompts with `n` choices each answers N*n choices, prompt by prompt: the
j-th choice of prompt i has index i*n + j."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.gateway.chat_body import ChatBody, encode
from services.gateway.errors import ApiError, bad_request
from services.gateway.validation import MAX_CHOICES, bounded_int, chat_params

JSON = dict[str, Any]

DEFAULT_MAX_TOKENS = 16  # OpenAI's completions default
# Fields of the completions API only: answered here, never sent upstream.
OWN_FIELDS = ("prompt", "suffix", "echo", "logprobs", "best_of", "stream_options")
FINISH_REASONS = {"stop", "length", "content_filter"}


def unsupported(message: str, param: str) -> ApiError:
    return ApiError(400, message, param=param, code="unsupported")


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompts: list[str]
    bodies: list[ChatBody]  # one chat call a prompt, in order
    n: int  # choices a prompt
    echo: bool
    stream: bool
    include_usage: bool


def _prompts(body: JSON) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return prompt
        if all(isinstance(p, int | list) and not isinstance(p, bool) for p in prompt):
            raise unsupported(
                "'prompt' as token ids is not supported (tokens differ between upstreams); "
                "send the text.",
                "prompt",
            )
    raise bad_request("'prompt' must be a string or a non-empty list of strings.", param="prompt")


def _check_unsupported(body: JSON, n: int) -> None:
    suffix = body.get("suffix")
    if suffix is not None and suffix != "":
        raise unsupported("'suffix' (insertion) is not supported by tollgate.", "suffix")
    if body.get("logprobs") is not None:
        raise unsupported("'logprobs' is not supported by tollgate's completions.", "logprobs")
    best_of = bounded_int(body, "best_of", 1, MAX_CHOICES)
    if best_of is not None and best_of > n:
        raise unsupported("'best_of' above 'n' is not supported by tollgate.", "best_of")


def _flag(body: JSON, name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean.", param=name)
    return value


def _include_usage(body: JSON) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options")
    return options.get("include_usage") is True


def parse_completion(body: JSON) -> CompletionRequest:
    """The completions request as chat bodies; a 400 ApiError naming the field."""
    prompts = _prompts(body)
    n = bounded_int(body, "n", 1, MAX_CHOICES) or 1
    if len(prompts) * n > MAX_CHOICES:
        raise bad_request(
            f"{len(prompts)} prompts of {n} choices each is more than {MAX_CHOICES} choices.",
            param="prompt",
        )
    _check_unsupported(body, n)
    echo = _flag(body, "echo")
    stream = _flag(body, "stream")
    include_usage = stream and _include_usage(body)
    shared = {k: v for k, v in body.items() if k not in OWN_FIELDS}
    if shared.get("max_tokens") is None and shared.get("max_completion_tokens") is None:
        shared["max_tokens"] = DEFAULT_MAX_TOKENS
    bodies = []
    for prompt in prompts:
        fields = {**shared, "messages": [{"role": "user", "content": prompt}]}
        bodies.append(ChatBody(fields, encode(fields), chat_params(fields)))
    model = bodies[0].params.model
    return CompletionRequest(model, prompts, bodies, n, echo, stream, include_usage)


def completion_id(request_id: str) -> str:
    """The completion id for a gateway request id, so a completion leads to its ledger row."""
    return "cmpl-" + request_id.removeprefix("req_")


def finish_reason(value: Any) -> str | None:
    if value is None:
        return None
    return value if value in FINISH_REASONS else "stop"  # tool_calls, function_call


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass
class Usage:
    """Tokens as the ledger bills them, summed over a request's chat calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    def add_reported(self, usage: Any) -> None:
        """An upstream's own usage object (when the router recorded none)."""
        if isinstance(usage, dict):
            self.add(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")))

    def as_json(self) -> JSON:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def choice(index: int, text: str, reason: str | None) -> JSON:
    return {"text": text, "index": index, "logprobs": None, "finish_reason": reason}


def choices_of(answer: JSON, first_index: int, echoed: str | None) -> list[JSON]:
    """A chat completion's choices as completion choices, numbered from `first_index`."""
    found = []
    given = answer.get("choices")
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            continue
        index = _count(item.get("index"))
        message = item.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""
        if echoed is not None:
            text = echoed + text
        found.append(choice(first_index + index, text, finish_reason(item.get("finish_reason"))))
    return sorted(found, key=lambda c: int(c["index"]))


def envelope(completion_id: str, model: str, created: int) -> JSON:
    return {"id": completion_id, "object": "text_completion", "created": created, "model": model}


def chunk_choices(chunk: JSON, first_index: int) -> list[JSON]:
    """A chat stream chunk's choices as completion choices (none for a usage-only or
    role-only chunk)."""
    found = []
    given = chunk.get("choices")
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            continue
        delta = item.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        text = content if isinstance(content, str) else ""
        reason = finish_reason(item.get("finish_reason"))
        if text or reason is not None:
            found.append(choice(first_index + _count(item.get("index")), text, reason))
    return found
