"""What one chat call did, turned into its one UsageRecord at the end.

A call may try several deployments (failover); the record always names the one
serving now (`serve`), so a crash mid-attempt bills the prompt at that deployment's
model, and the final record bills the model that answered, once. Failed attempts
leave no record of their own: only `attempts` counts them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from services.router.endings import usage_chunk
from services.router.outcomes import (
    ESTIMATED,
    FAILED,
    INTERRUPTED,
    INTERRUPTED_HTTP_STATUS,
    PARTIAL,
    PROVIDER,
)
from services.router.providers.base import JSON, UpstreamError
from services.router.routing.table import Attempt
from services.router.usage_record import Ending, Origin
from tollgate.tokens import count_chat_prompt, count_text
from tollgate.v1 import common_pb2, metering_pb2, router_pb2

log = logging.getLogger(__name__)


class Generated:
    """The text an upstream generated, for counting when it reports no usage."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tool_calls: dict[tuple[int, int], list[str]] = {}  # (choice, index) -> texts
        self._counted_parts = 0  # of `parts`, counted by `count_so_far`
        self._counted_tokens = 0

    def add_message(self, message: Any, choice: int = 0) -> None:
        if not isinstance(message, dict):
            return
        for key in ("content", "refusal", "reasoning_content"):
            if isinstance(message.get(key), str):
                self.parts.append(message[key])
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if not isinstance(call, dict):
                    continue
                index = call.get("index", position)
                function = call.get("function")
                if isinstance(function, dict):
                    texts = self.tool_calls.setdefault((choice, index), ["", ""])
                    for slot, key in enumerate(("name", "arguments")):
                        if isinstance(function.get(key), str):
                            texts[slot] += function[key]

    def add_choices(self, data: JSON, key: str) -> None:
        choices = data.get("choices")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                if isinstance(choice, dict):
                    self.add_message(choice.get(key), choice.get("index", position))

    def count(self, model: str) -> int:
        total = count_text("".join(self.parts), model) if self.parts else 0
        return total + self._count_tool_calls(model)

    def count_so_far(self, model: str) -> int:
        """`count`, for checkpoints: the text is counted in the pieces that arrived
        between checkpoints, each once (a token split by a checkpoint may count twice)."""
        if len(self.parts) > self._counted_parts:
            self._counted_tokens += count_text("".join(self.parts[self._counted_parts :]), model)
            self._counted_parts = len(self.parts)
        return self._counted_tokens + self._count_tool_calls(model)

    def _count_tool_calls(self, model: str) -> int:
        total = 0
        for name, arguments in self.tool_calls.values():
            total += count_text(name, model) + count_text(arguments, model)
        return total


class CallRecord:
    """What one call did, turned into its UsageRecord at the end."""

    def __init__(
        self,
        request: router_pb2.ChatRequest,
        attempt: Attempt,
        body: JSON,
        reference_model: str = "",
    ) -> None:
        self.request = request
        self.body = body
        self.attempt = attempt  # the deployment serving now (or the last one tried)
        self.attempts = 0  # upstream attempts made so far, this one included
        self.origin = Origin.of_chat(request, reference_model)
        self.generated = Generated()
        self.provider_usage: common_pb2.Usage | None = None
        self.output_sent = False
        self.first_chunk: JSON | None = None  # its id and model name an estimated usage chunk
        self.status: metering_pb2.CallStatus = FAILED
        self.http_status = 502
        # The usage in the record sent to metering; the call's last event tells it the gateway.
        self.recorded_usage: common_pb2.Usage | None = None
        self._prompt_tokens: int | None = None
        self._first_attempt_at: float | None = None  # perf_counter of the first attempt

    @property
    def served_model(self) -> str:
        return self.attempt.deployment.model

    def serve(self, attempt: Attempt) -> None:
        """An attempt goes to `attempt`'s deployment now."""
        if attempt.deployment != self.attempt.deployment:
            self._prompt_tokens = None  # another model counts the prompt its own way
        self.attempt = attempt
        self.attempts += 1
        if self._first_attempt_at is None:
            self._first_attempt_at = time.perf_counter()

    def served(self) -> router_pb2.Served:
        """The event that tells the gateway what answered, and how long the upstream
        took until now."""
        deployment = self.attempt.deployment
        upstream_ms = 0
        if self._first_attempt_at is not None:
            upstream_ms = round((time.perf_counter() - self._first_attempt_at) * 1000)
        return router_pb2.Served(
            upstream_ms=upstream_ms,
            model=deployment.model,
            provider=deployment.provider,
            deployment=deployment.key,
            attempts=self.attempts,
            route=self.attempt.route,
        )

    def finish(self, status: metering_pb2.CallStatus, http_status: int) -> None:
        self.status = status
        self.http_status = http_status

    def fail(self, error: UpstreamError) -> None:
        # Once the client has seen output, the upstream has billed for it.
        self.finish(PARTIAL if self.output_sent else FAILED, error.http_status)

    def estimated_usage_chunk(self) -> bytes | None:
        """The usage chunk for a client that asked for usage when the upstream sent
        none: what was recorded (the estimate), so the client sees what it is billed."""
        if (
            not self.request.include_usage
            or self.provider_usage is not None
            or self.recorded_usage is None
            or self.status == FAILED
        ):
            return None
        return usage_chunk(self.first_chunk, self.served_model, self.recorded_usage)

    def _prompt_estimate(self) -> int:
        if self.request.prompt_tokens_estimate > 0:
            return self.request.prompt_tokens_estimate
        if self._prompt_tokens is None:
            self._prompt_tokens = self._count_prompt()
        return self._prompt_tokens

    def _count_prompt(self) -> int:
        messages = self.body.get("messages")
        tools = self.body.get("tools")
        try:
            return count_chat_prompt(
                messages if isinstance(messages, list) else [],
                self.served_model,
                tools if isinstance(tools, list) else None,
            )
        except Exception:
            log.exception("cannot count the prompt of %s", self.request.request_id)
            return 0

    def interrupted(self) -> metering_pb2.UsageRecord:
        """The record to bill if the router dies now: the prompt and the output so far."""
        usage = common_pb2.Usage(
            prompt_tokens=self._prompt_estimate(),
            completion_tokens=self.generated.count_so_far(self.served_model),
        )
        ending = Ending(INTERRUPTED, INTERRUPTED_HTTP_STATUS, usage, ESTIMATED)
        record = self.origin.record(self.attempt, self.attempts, ending)
        record.attempts = max(1, self.attempts)  # opened just before its first attempt
        return record

    def to_proto(self) -> metering_pb2.UsageRecord:
        if self.status == FAILED:
            usage, source = common_pb2.Usage(), ESTIMATED
        elif self.provider_usage is not None:
            usage, source = self.provider_usage, PROVIDER
        else:
            usage = common_pb2.Usage(
                prompt_tokens=self._prompt_estimate(),
                completion_tokens=self.generated.count(self.served_model),
            )
            source = ESTIMATED
        ending = Ending(self.status, self.http_status, usage, source)
        return self.origin.record(self.attempt, self.attempts, ending)
