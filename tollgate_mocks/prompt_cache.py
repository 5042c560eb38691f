"""The Anthropic mock's prompt cache: `cache_control` breakpoints honoured the way the
Messages API bills them, for tests of caching through tollgate.

The prompt is read in Anthropic's cache order (tools, then system, then messages);
each block marked with `cache_control` ends a cacheable prefix (a breakpoint). The
first time a prefix is seen its tokens are written to the cache
(`cache_creation_input_tokens`); a later request that repeats it reads them
(`cache_read_input_tokens`), and only the part after the longest cached prefix is
written anew. Prefixes shorter than `min_tokens` are not cached, as with the real API
(1024 tokens and more there; 0 here unless set). Token counts use the demo model's
tokenizer and never exceed the prompt's count. Entries never expire.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from services.router.providers.demo import model as demo
from tollgate.tokens import count_text

JSON = dict[str, Any]


@dataclass(frozen=True)
class CacheUse:
    read: int = 0
    written: int = 0


NO_CACHE = CacheUse()


def _blocks(body: JSON) -> list[Any]:
    """The prompt's blocks in cache order: tools, system, then each message's content."""
    blocks: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks.extend(system)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content, "role": message.get("role")})
        elif isinstance(content, list):
            blocks.extend(content)
    return blocks


def _tokens(block: Any) -> int:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return count_text(block["text"], demo.COUNTING_MODEL)
    unmarked = {k: v for k, v in block.items() if k != "cache_control"}
    return count_text(json.dumps(unmarked, sort_keys=True), demo.COUNTING_MODEL)


def breakpoints(body: JSON) -> list[tuple[str, int]]:
    """(prefix key, prefix tokens) for each block marked with cache_control, in order."""
    digest = hashlib.sha256(str(body.get("model")).encode())
    tokens = 0
    found: list[tuple[str, int]] = []
    for block in _blocks(body):
        if not isinstance(block, dict):
            continue
        unmarked = {k: v for k, v in block.items() if k != "cache_control"}
        digest.update(json.dumps(unmarked, sort_keys=True).encode())
        tokens += _tokens(block)
        if isinstance(block.get("cache_control"), dict):
            found.append((digest.copy().hexdigest(), tokens))
    return found


@dataclass
class PromptCache:
    min_tokens: int = 0
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def use(self, body: JSON, prompt_tokens: int) -> CacheUse:
        """What the request reads from and writes to the cache; remembers its prefixes."""
        marks = [
            (key, min(tokens, prompt_tokens))
            for key, tokens in breakpoints(body)
            if tokens >= self.min_tokens
        ]
        if not marks:
            return CacheUse()
        with self._lock:
            read = max((tokens for key, tokens in marks if key in self._seen), default=0)
            self._seen.update(key for key, _ in marks)
        return CacheUse(read=read, written=max(0, marks[-1][1] - read))
