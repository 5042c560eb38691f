"""An OpenAI chat completion body as a Gemini generateContent request (see gemini.py)."""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from services.router.providers.base import (
    INVALID_REQUEST,
    JSON,
    UpstreamError,
)

TOOL_CHOICE_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
DEFAULT_IMAGE_MIME_TYPE = "image/jpeg"


def _invalid(message: str, param: str = "messages") -> UpstreamError:
    return UpstreamError(400, INVALID_REQUEST, "invalid_value", message, param)


def dumps(data: JSON) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# ---- request: OpenAI -> Gemini ------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(t for t in texts if isinstance(t, str))
    return ""


def _image_part(image: Any) -> JSON:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise _invalid("An image_url content part has no url.")
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        mime_type, _, encoding = header.partition(";")
        if encoding != "base64" or not data:
            raise _invalid("An image data URL must be base64-encoded.")
        return {"inlineData": {"mimeType": mime_type or DEFAULT_IMAGE_MIME_TYPE, "data": data}}
    mime_type = mimetypes.guess_type(url.split("?", 1)[0])[0] or DEFAULT_IMAGE_MIME_TYPE
    return {"fileData": {"fileUri": url, "mimeType": mime_type}}


def _content_parts(content: Any) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise _invalid("A message's content must be a string or a list of parts.")
    parts: list[JSON] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:  # Gemini refuses empty text parts
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_image_part(part.get("image_url")))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            mime_type = "audio/" + str(audio.get("format") or "wav")
            parts.append({"inlineData": {"mimeType": mime_type, "data": audio.get("data", "")}})
        else:
            raise _invalid(f"Content parts of type {kind!r} cannot be sent to Gemini.")
    return parts


def _function_call_part(call: Any) -> tuple[str, JSON]:
    """The call's id and its `functionCall` part."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _invalid("An assistant tool call has no function name.")
    arguments = function.get("arguments") or "{}"
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        args = None
    if not isinstance(args, dict):
        raise _invalid("An assistant tool call's arguments are not a JSON object.")
    return str(call.get("id") or ""), {"functionCall": {"name": function["name"], "args": args}}


def _contents(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """Gemini's `contents` and the parts of its `systemInstruction`."""
    system: list[JSON] = []
    contents: list[JSON] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name

    def add(role: str, parts: list[JSON]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for message in messages:
        if not isinstance(message, dict):
            raise _invalid("Each message must be an object.")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _content_parts(message.get("content")))
        elif role == "assistant":
            parts = _content_parts(message.get("content"))
            for call in message.get("tool_calls") or []:
                call_id, part = _function_call_part(call)
                call_names[call_id] = part["functionCall"]["name"]
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            answered = message.get("tool_call_id")
            name = call_names.get(answered) if isinstance(answered, str) else None
            if name is None:
                raise _invalid(f"Tool message {answered!r} answers no earlier tool call.")
            result = _text_of(message.get("content"))
            add("user", [{"functionResponse": {"name": name, "response": {"result": result}}}])
        else:
            raise _invalid(f"Messages with role {role!r} cannot be sent to Gemini.")
    return contents, system


def _tools(body: JSON) -> JSON:
    """`tools` and `toolConfig` for the request, if it has tools."""
    declarations = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise _invalid("Only function tools can be sent to Gemini.", "tools")
        declaration: JSON = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    if not declarations:
        return {}
    out: JSON = {"tools": [{"functionDeclarations": declarations}]}
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        out["toolConfig"] = {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise _invalid("tool_choice names no function.", "tool_choice")
        config = {"mode": "ANY", "allowedFunctionNames": [name]}
        out["toolConfig"] = {"functionCallingConfig": config}
    return out


def _generation_config(body: JSON) -> JSON:
    config: JSON = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
        ("max_tokens", "maxOutputTokens"),
        ("max_completion_tokens", "maxOutputTokens"),  # the newer name wins
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        json_schema = response_format.get("json_schema")
        if kind == "json_schema" and isinstance(json_schema, dict) and json_schema.get("schema"):
            config["responseJsonSchema"] = json_schema["schema"]
    return config


def request_body(body: JSON) -> JSON:
    """The Gemini `generateContent` request for an OpenAI chat completion body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list.")
    contents, system = _contents(messages)
    if not contents:
        raise _invalid("The messages have no content to send.")
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    out.update(_tools(body))
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


# ---- response: Gemini -> OpenAI -----------------------------------------------------
