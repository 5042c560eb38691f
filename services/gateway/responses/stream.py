"""Chat completion chunks in, OpenAI Responses API stream events out.

The sequence is the one the openai SDK's `responses.stream` builds its snapshot
from: `response.created` and `response.in_progress`; per text message
`response.output_item.added`, `response.content_part.added`, the
`response.output_text.delta`s, then `response.output_text.done`,
`response.content_part.done`, `response.output_item.done`; per function call
`response.output_item.added`, `response.function_call_arguments.delta`s, then
`response.function_call_arguments.done` and `response.output_item.done`; last
`response.completed` with the whole response and its usage (`response.incomplete`
when the output hit its cap). Every event carries the next `sequence_number`.
A failure mid-stream is an `error` event, then `response.failed`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.gateway.responses.reply import (
    JSON,
    Shell,
    function_call_item,
    message_item,
    outcome,
    usage_from_chat,
)


def sse(event: JSON) -> bytes:
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


@dataclass
class _Message:
    output_index: int
    item_id: str
    texts: list[str] = field(default_factory=list)


@dataclass
class _Call:
    output_index: int
    item_id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)

    def item(self, *, done: bool) -> JSON:
        return function_call_item(
            self.item_id, self.call_id, self.name, "".join(self.arguments), done=done
        )


@dataclass
class StreamTranslator:
    shell: Shell
    model: str = ""
    sequence: int = 0
    output: list[JSON] = field(default_factory=list)  # finished items, by output index
    message: _Message | None = None  # the open text message
    calls: dict[int, _Call] = field(default_factory=dict)  # chat tool index -> call
    messages_opened: int = 0
    finish_reason: Any = None
    usage: JSON | None = None  # the upstream's, from its usage chunk
    generated: list[str] = field(default_factory=list)  # for an estimate without usage

    def _event(self, kind: str, **fields: Any) -> JSON:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _snapshot(self, status: str, **extra: Any) -> JSON:
        return self.shell.response(
            model=self.model or self.shell.options.model,
            status=status,
            output=[item for item in self.output if item],
            usage=extra.pop("usage", None),
            **extra,
        )

    def start(self, model: str) -> list[JSON]:
        self.model = model
        snapshot = self._snapshot("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def _open_slot(self) -> int:
        self.output.append({})  # filled when the item is done
        return len(self.output) - 1

    def _close_message(self) -> list[JSON]:
        message = self.message
        if message is None:
            return []
        self.message = None
        text = "".join(message.texts)
        item = message_item(message.item_id, text)
        self.output[message.output_index] = item
        where = {"item_id": message.item_id, "output_index": message.output_index}
        part = item["content"][0]
        return [
            self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            ),
            self._event("response.content_part.done", **where, content_index=0, part=part),
            self._event("response.output_item.done", output_index=message.output_index, item=item),
        ]

    def _text(self, text: str) -> list[JSON]:
        events: list[JSON] = []
        if self.message is None:
            index = self._open_slot()
            self.message = _Message(index, self.shell.message_item_id(self.messages_opened))
            self.messages_opened += 1
            item = message_item(self.message.item_id, "", done=False)
            where = {"item_id": self.message.item_id, "output_index": index}
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events += [
                self._event("response.output_item.added", output_index=index, item=item),
                self._event("response.content_part.added", **where, content_index=0, part=part),
            ]
        self.message.texts.append(text)
        self.generated.append(text)
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self.message.item_id,
                output_index=self.message.output_index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _tool_call(self, given: JSON) -> list[JSON]:
        events: list[JSON] = []
        position = given.get("index", 0)
        function = given.get("function")
        function = function if isinstance(function, dict) else {}
        call = self.calls.get(position)
        if call is None:
            events += self._close_message()
            n = len(self.calls)
            call_id = given.get("id")
            call = _Call(
                self._open_slot(),
                self.shell.call_item_id(n),
                call_id
                if isinstance(call_id, str) and call_id
                else f"call_{self.shell.request_hex[:20]}_{n}",
                str(function.get("name") or ""),
            )
            self.calls[position] = call
            events.append(
                self._event(
                    "response.output_item.added",
                    output_index=call.output_index,
                    item=call.item(done=False),
                )
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
            self.generated.append(arguments)
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    delta=arguments,
                )
            )
        return events

    def chunk(self, data: JSON) -> list[JSON]:
        if isinstance(data.get("usage"), dict):
            self.usage = usage_from_chat(data["usage"])  # the last one seen; never added
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        choice = choice if isinstance(choice, dict) else {}
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        events: list[JSON] = []
        text = delta.get("content")
        if isinstance(text, str) and text:
            events += self._text(text)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                events += self._tool_call(call)
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]
        return events

    def _close_calls(self) -> list[JSON]:
        events: list[JSON] = []
        for call in self.calls.values():
            item = call.item(done=True)
            self.output[call.output_index] = item
            events += [
                self._event(
                    "response.function_call_arguments.done",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    name=call.name,
                    arguments=item["arguments"],
                ),
                self._event("response.output_item.done", output_index=call.output_index, item=item),
            ]
        self.calls = {}
        return events

    def finish(self, fallback_usage: JSON) -> list[JSON]:
        """The closing events; `fallback_usage` when no chunk carried usage."""
        events = self._close_message() + self._close_calls()
        status, reason = outcome(self.finish_reason)
        final = self._snapshot(status, usage=self.usage or fallback_usage, incomplete_reason=reason)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, self._event(kind, response=final)]

    def fail(self, message: str, code: str | None) -> list[JSON]:
        """The events of a stream that broke: `error`, then `response.failed`."""
        # A response's error code is one of OpenAI's few; the `error` event has ours.
        kind = "rate_limit_exceeded" if code and "rate_limit" in code else "server_error"
        error = {"code": kind, "message": message}
        final = self._snapshot("failed", error=error)
        return [
            self._event("error", code=code, message=message, param=None),
            self._event("response.failed", response=final),
        ]

    @property
    def final_output(self) -> list[JSON]:
        return [item for item in self.output if item]
