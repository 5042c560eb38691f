"""Hypothesis strategies for valid OpenAI chat completion requests, and the flat view
of a conversation ("events") that a translation must preserve in order."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

JSON = dict[str, Any]
Event = tuple[Any, ...]

NAMES = st.text(string.ascii_letters + "_", min_size=1, max_size=12)
TEXTS = st.text(max_size=30)  # empty strings included: valid, and carried as nothing
WORDS = st.text(string.ascii_letters + " .", min_size=1, max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), WORDS)
ARGUMENTS = st.dictionaries(NAMES, st.one_of(SCALARS, st.lists(SCALARS, max_size=3)), max_size=4)
BASE64 = st.text(string.ascii_letters + string.digits + "+/", min_size=4, max_size=24)


@st.composite
def image_urls(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["png", "jpeg", "webp", "gif"]))
        return f"data:image/{kind};base64,{draw(BASE64)}="
    return f"https://images.test/{draw(NAMES)}.{draw(st.sampled_from(['png', 'jpg']))}"


def text_part(text: str) -> JSON:
    return {"type": "text", "text": text}


@st.composite
def content_parts(draw: st.DrawFn, unsupported: bool) -> list[JSON]:
    """User content parts: text and images, and (when `unsupported`) a file or audio."""
    kinds = ["text", "image"] + (["audio", "file"] if unsupported else [])
    parts: list[JSON] = []
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=4)):
        if kind == "text":
            parts.append(text_part(draw(TEXTS)))
        elif kind == "image":
            detail = draw(st.sampled_from([None, "low", "high", "auto"]))
            image: JSON = {"url": draw(image_urls())}
            if detail:
                image["detail"] = detail
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "audio":
            audio = {"data": draw(BASE64), "format": draw(st.sampled_from(["wav", "mp3"]))}
            parts.append({"type": "input_audio", "input_audio": audio})
        else:
            parts.append({"type": "file", "file": {"file_id": "file-" + draw(NAMES)}})
    return parts


def text_content(draw: st.DrawFn) -> str | list[JSON]:
    """A string, or a list of text parts (system, developer and tool messages)."""
    if draw(st.booleans()):
        return str(draw(TEXTS))
    return [text_part(t) for t in draw(st.lists(TEXTS, min_size=1, max_size=3))]


@st.composite
def tools(draw: st.DrawFn) -> list[JSON]:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    out = []
    for name in names:
        function: JSON = {"name": name}
        if draw(st.booleans()):
            function["description"] = draw(WORDS)
        if draw(st.booleans()):
            fields = draw(st.lists(NAMES, max_size=3, unique=True))
            types = st.sampled_from(["string", "integer", "number", "boolean"])
            function["parameters"] = {
                "type": "object",
                "properties": {f: {"type": draw(types)} for f in fields},
                "required": fields[: draw(st.integers(0, len(fields)))],
                "additionalProperties": draw(st.booleans()),
            }
        out.append({"type": "function", "function": function})
    return out


@st.composite
def conversations(draw: st.DrawFn, tool_names: list[str], unsupported: bool) -> list[JSON]:
    """Messages ending with a user turn; every assistant tool call is answered by tool
    messages right after it, with matching ids."""
    messages: list[JSON] = []
    counter = 0
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["system", "user", "assistant"]))
        if kind == "system":
            role = draw(st.sampled_from(["system", "developer"]))
            messages.append({"role": role, "content": text_content(draw)})
        elif kind == "user":
            messages.append({"role": "user", "content": draw(_user_content(unsupported))})
        else:
            message: JSON = {"role": "assistant", "content": draw(st.one_of(st.none(), TEXTS))}
            calls = []
            for _ in range(draw(st.integers(0, 3))):
                counter += 1
                name = draw(st.sampled_from(tool_names)) if tool_names else draw(NAMES)
                arguments = json.dumps(draw(ARGUMENTS))
                function = {"name": name, "arguments": arguments}
                calls.append({"id": f"call_{counter}", "type": "function", "function": function})
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            for call in calls:
                reply = {"role": "tool", "tool_call_id": call["id"], "content": text_content(draw)}
                messages.append(reply)
    messages.append({"role": "user", "content": draw(_user_content(unsupported))})
    return messages


def _user_content(unsupported: bool) -> st.SearchStrategy[Any]:
    return st.one_of(TEXTS, content_parts(unsupported))


@st.composite
def chat_requests(draw: st.DrawFn) -> JSON:
    """A valid OpenAI chat completion body; it may ask for what a provider lacks
    (n > 1, audio or file parts)."""
    unsupported = draw(st.booleans())
    declared = draw(st.one_of(st.none(), tools()))
    names = [t["function"]["name"] for t in declared or []]
    body: JSON = {"model": "m", "messages": draw(conversations(names, unsupported))}
    if declared:
        body["tools"] = declared
        choices: list[Any] = ["auto", "required", "none"]
        choices += [{"type": "function", "function": {"name": n}} for n in names]
        if draw(st.booleans()):
            body["tool_choice"] = draw(st.sampled_from(choices))
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    optional: dict[str, st.SearchStrategy[Any]] = {
        "stop": st.one_of(WORDS, st.lists(WORDS, min_size=1, max_size=4)),
        "max_tokens": st.integers(1, 100_000),
        "max_completion_tokens": st.integers(1, 100_000),
        "temperature": st.one_of(st.integers(0, 2), st.floats(0, 2)),
        "top_p": st.floats(0, 1),
        "n": st.integers(1, 3) if unsupported else st.just(1),
        "user": WORDS,
        "seed": st.integers(0, 2**31),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2),
        "stream": st.booleans(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


# --- what a request says, flattened ---------------------------------------------------------


def texts_of(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [p["text"] for p in content or [] if p.get("type") == "text"]


def system_texts(body: JSON) -> list[str]:
    """Each system or developer message's text (parts joined), empty ones left out."""
    out = []
    for message in body["messages"]:
        if message["role"] in ("system", "developer"):
            text = "".join(texts_of(message["content"]))
            if text:
                out.append(text)
    return out


def unsupported_parts(body: JSON) -> set[str]:
    return {
        part["type"]
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part["type"] not in ("text", "image_url")
    }


def events(body: JSON) -> list[Event]:
    """The conversation, system messages aside, as (role, kind, ...) events in order:
    non-empty texts, images, audio, tool calls and tool results."""
    out: list[Event] = []
    for message in body["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            continue
        if role == "tool":
            text = "".join(texts_of(message["content"]))
            out.append(("user", "result", message["tool_call_id"], text))
            continue
        side = "assistant" if role == "assistant" else "user"
        content = message.get("content")
        for part in [text_part(content)] if isinstance(content, str) else content or []:
            if part["type"] == "text" and part["text"]:
                out.append((side, "text", part["text"]))
            elif part["type"] == "image_url":
                out.append((side, "image", part["image_url"]["url"]))
            elif part["type"] == "input_audio":
                audio = part["input_audio"]
                out.append((side, "audio", f"audio/{audio['format']}", audio["data"]))
        for call in message.get("tool_calls") or []:
            function = call["function"]
            arguments = json.loads(function["arguments"])
            out.append((side, "call", call["id"], function["name"], arguments))
    return out
