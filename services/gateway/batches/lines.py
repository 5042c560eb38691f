"""A batch's input file, checked line by line as OpenAI checks it when a batch is
created: each line a JSON object (the door's limits: depth, size, lone surrogates)
with a unique `custom_id`, `method` POST, `url` equal to the batch's endpoint and a
`body` that the endpoint's own door accepts (chat completions, embeddings, or a
Responses request, translated to chat by the Responses front door's code), naming
a model this project may call. A batch with any bad line fails validation with the
errors (line numbers, OpenAI's BatchError); nothing of it runs or is reserved.

A good line becomes what the router will send (`Line`) and what Budget must hold for
it (`Hold`: its prompt counted with the model's tokenizer, its max_tokens)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from services.gateway.batches.jsonl import request_lines
from services.gateway.embeddings import embedding_params
from services.gateway.errors import ApiError
from services.gateway.policy import allows, check_max_tokens, check_prompt_tokens
from services.gateway.policy_cache import KeyRules, ProjectRules
from services.gateway.reserve import Hold
from services.gateway.responses.request import Options, chat_request, items
from services.gateway.validation import chat_params, parse_json
from tollgate import embeddings, tokens
from tollgate.config import Route
from tollgate.v1 import batch_pb2

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"
ENDPOINTS = (CHAT, EMBEDDINGS, RESPONSES)
MAX_CUSTOM_ID_CHARS = 512
# A failed batch lists at most this many errors (the first ones, in line order).
MAX_ERRORS = 100
EMBEDDING_OUTPUT_TOKENS = 1  # embeddings bill input only (services/gateway/embeddings.py)


@dataclass(frozen=True)
class Line:
    number: int
    custom_id: str
    model: str
    body: dict[str, Any]
    end_user: str
    max_tokens: int = 0  # 0: the model's cap
    choices: int = 1
    prompt_tokens: int = 0

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Checked:
    lines: list[Line] = field(default_factory=list)
    errors: list[batch_pb2.BatchError] = field(default_factory=list)

    def fail(self, number: int, code: str, message: str, param: str | None = None) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                batch_pb2.BatchError(code=code, message=message, param=param or "", line=number)
            )


def parse_lines(content: bytes, endpoint: str, max_lines: int) -> Checked:
    """Each line's JSON and fields (no model lookups yet): the good lines and the errors."""
    checked = Checked()
    found = request_lines(content)
    if len(found) > max_lines:
        checked.fail(0, "too_many_requests", f"A batch may hold at most {max_lines} requests.")
        return checked
    if not found:
        checked.fail(0, "empty_file", "The input file holds no requests.")
    seen: set[str] = set()
    for number, raw in found:
        try:
            line = _line(number, raw, endpoint)
        except ApiError as exc:
            checked.fail(number, exc.code or "invalid_request", exc.message, exc.param)
            continue
        if line.custom_id in seen:
            checked.fail(
                number,
                "duplicate_custom_id",
                f"The custom_id {line.custom_id!r} is used by an earlier line.",
                "custom_id",
            )
            continue
        seen.add(line.custom_id)
        checked.lines.append(line)
    return checked


def _invalid(message: str, param: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_request")


def _line(number: int, raw: bytes, endpoint: str) -> Line:
    try:
        request = parse_json(raw)
    except ApiError as exc:
        raise ApiError(400, exc.message, param=exc.param, code="invalid_json_line") from None
    custom_id = request.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _invalid("'custom_id' must be a non-empty string.", "custom_id")
    if len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise _invalid(f"'custom_id' is longer than {MAX_CUSTOM_ID_CHARS} characters.", "custom_id")
    if "\x00" in custom_id:
        raise _invalid("'custom_id' must not hold NUL characters.", "custom_id")
    if request.get("method") != "POST":
        raise _invalid("'method' must be POST.", "method")
    if request.get("url") != endpoint:
        raise _invalid(f"'url' must be the batch's endpoint, {endpoint}.", "url")
    body = request.get("body")
    if not isinstance(body, dict):
        raise _invalid("'body' must be an object.", "body")
    try:
        return _body_line(number, custom_id, body, endpoint)
    except ApiError as exc:
        param = f"body.{exc.param}" if exc.param else "body"
        raise ApiError(400, exc.message, param=param, code=exc.code or "invalid_request") from None


def _body_line(number: int, custom_id: str, body: dict[str, Any], endpoint: str) -> Line:
    if endpoint == EMBEDDINGS:
        params = embedding_params(body)
        return Line(number, custom_id, params.model, body, params.user)
    if body.get("stream"):
        raise _invalid("A batch request cannot stream; drop 'stream'.", "stream")
    if endpoint == RESPONSES:
        # Translated to chat now (the Responses front door's own translation), so every
        # provider serves it; its output is translated back when the file is read.
        options = Options.of(body)
        if options.previous_response_id:
            raise _invalid(
                "A batch request cannot continue a stored response.", "previous_response_id"
            )
        body = chat_request(body, options, items(body))
    chat = chat_params(body)
    return Line(
        number, custom_id, chat.model, body, chat.user, max_tokens=chat.max_tokens, choices=chat.n
    )


def price_lines(
    checked: Checked,
    endpoint: str,
    routes: Mapping[str, Route | None],
    project: ProjectRules,
    key: KeyRules,
) -> Checked:
    """The lines with their prompts counted and the project's policy applied (its
    allow-lists, its max_tokens cap, written into a line that set none, its prompt cap);
    a line that breaks one is an error. Counting is CPU work: run it off the loop."""
    out = Checked(errors=list(checked.errors))
    for line in checked.lines:
        route = routes.get(line.model)
        if route is None:
            out.fail(
                line.number,
                "model_not_found",
                f"The model `{line.model}` does not exist or you do not have access to it.",
                "body.model",
            )
            continue
        if not allows(project, key, line.model):
            out.fail(
                line.number,
                "model_not_allowed",
                f"This project may not call the model `{line.model}`.",
                "body.model",
            )
            continue
        try:
            out.lines.append(_priced(line, endpoint, route, project))
        except ApiError as exc:
            param = f"body.{exc.param}" if exc.param else "body"
            out.fail(line.number, exc.code or "invalid_request", exc.message, param)
    return out


def _priced(line: Line, endpoint: str, route: Route, project: ProjectRules) -> Line:
    model = route.served_model
    if endpoint == EMBEDDINGS:
        count = embeddings.count_tokens(embeddings.items(line.body["input"]), model)
        return _with(line, prompt_tokens=count, max_tokens=EMBEDDING_OUTPUT_TOKENS)
    field_name = "max_completion_tokens" if "max_completion_tokens" in line.body else "max_tokens"
    check_max_tokens(project, line.max_tokens, field_name)
    body, max_tokens = line.body, line.max_tokens
    if project.max_tokens is not None and max_tokens == 0:
        body, max_tokens = {**body, "max_tokens": project.max_tokens}, project.max_tokens
    tools = body.get("tools")
    count = tokens.count_chat_prompt(
        body["messages"], model, tools if isinstance(tools, list) else None
    )
    check_prompt_tokens(project, count)
    return _with(line, body=body, max_tokens=max_tokens, prompt_tokens=count)


def _with(line: Line, **changes: Any) -> Line:
    return replace(line, **changes)


def hold_of(line: Line, route: Route, batch_id: str, hold_seconds: int) -> Hold:
    """What Budget reserves for the line: its worst case at the dearest model its
    route may reach, at the batch price, for the batch's window."""
    return Hold(
        route.served_model,
        line.prompt_tokens,
        max_completion_tokens=line.max_tokens,
        choices=line.choices,
        end_user=line.end_user,
        candidate_models=route.candidates,
        batch_id=batch_id,
        hold_seconds=hold_seconds,
    )
