"""Prompt compaction (opt-in per project, or per request with `X-Tollgate-Compact: on`):
fold runs of whitespace and drop empty messages, never changing a word.

In each message's text (a string content, or the text of its `text` parts):
- a run of whitespace holding two or more line breaks becomes one blank line ("\\n\\n"),
- a run holding one line break becomes "\\n",
- any other run (spaces, tabs) becomes one space,
- whitespace at the start and end is dropped.
So `text.split()` (the words, in order) is the same before and after. A message is
dropped only when it carries nothing but a role (and perhaps a name) and empty text:
an assistant message with tool calls, a tool result or any other field stays. A
request whose messages would all be dropped is left as it was."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_RUN = re.compile(r"\s+")
_BARE_KEYS = {"role", "content", "name"}


def fold(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        newlines = match.group().count("\n")
        return "\n\n" if newlines >= 2 else "\n" if newlines == 1 else " "

    return _RUN.sub(one, text).strip()


def _compact_content(content: Any) -> Any:
    if isinstance(content, str):
        return fold(content)
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                if isinstance(part.get("text"), str):
                    part = {**part, "text": fold(part["text"])}
                    if not part["text"]:
                        continue
            parts.append(part)
        return parts
    return content


def _empty(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return set(message) <= _BARE_KEYS and content in (None, "", [])


@dataclass(frozen=True)
class Compacted:
    messages: list[Any]
    changed: bool


def compact_messages(messages: list[Any]) -> Compacted:
    out: list[Any] = []
    for message in messages:
        if not isinstance(message, dict):
            out.append(message)
            continue
        folded = message
        if "content" in message:
            folded = {**message, "content": _compact_content(message["content"])}
        if not _empty(folded):
            out.append(folded)
    if not out:
        return Compacted(messages, False)
    return Compacted(out, out != messages)
