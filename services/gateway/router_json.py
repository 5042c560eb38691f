"""Reading what the router sends back to a translating front door (`/v1/messages`,
`/v1/completions`, `/v1/responses`): a chat completion or chunk as a JSON object, and
the texts it generated, for tollgate's own count when the router reported no usage."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)

JSON = dict[str, Any]


def router_object(raw: bytes) -> JSON:
    """A response or chunk from the router as a JSON object; {} (and a log line) when
    it is not one, so one bad chunk is skipped rather than failing the answer."""
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("the router sent an answer that is not JSON; skipped")
        return {}
    return data if isinstance(data, dict) else {}


def generated_texts(completion: JSON) -> list[str]:
    """The texts of a chat completion's messages: its content and tool call arguments."""
    texts: list[str] = []
    choices = completion.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            texts.append(message["content"])
        for tool_call in message.get("tool_calls") or []:
            function = tool_call.get("function") if isinstance(tool_call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                texts.append(function["arguments"])
    return texts
