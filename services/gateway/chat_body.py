"""A chat completion request body, parsed once at the door and carried with its bytes.

The bytes are what the router forwards: the client's own, byte for byte, unless the
policy changed something (a `max_tokens` cap, compacted messages); then `rewritten`
encodes the parsed body with the changes, without parsing the bytes again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.gateway.validation import ChatParams, chat_params, parse_json
from tollgate.v1 import router_pb2

JSON = dict[str, Any]


def encode(body: JSON) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ChatBody:
    fields: JSON  # the parsed body, as sent (never mutated)
    raw: bytes  # its bytes, as sent
    params: ChatParams  # the fields tollgate reasons about, checked
    # The wire format of `raw` (router.proto's Api): a chat completion request, unless
    # a front door passes another API's body through (the Responses API).
    api: router_pb2.Api = router_pb2.API_CHAT

    def rewritten(self, changes: JSON, params: ChatParams) -> ChatBody:
        """The body with `changes` set at its top level, and the params that go with it."""
        fields = {**self.fields, **changes}
        return ChatBody(fields, encode(fields), params)


def parse_chat(raw: bytes) -> ChatBody:
    """An OpenAI chat completion body: a 400 ApiError naming the field when it is bad."""
    fields = parse_json(raw)
    return ChatBody(fields, raw, chat_params(fields))
