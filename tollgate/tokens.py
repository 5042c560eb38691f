"""Token counting for billing and the demo upstream, fully offline.

tiktoken's own `get_encoding` downloads its vocabularies on first use; the relay has no
internet, so tollgate ships the two vocabularies it needs in `tollgate/data/tiktoken/`
and builds the `tiktoken.Encoding` objects itself, with the same regex and special
tokens as `tiktoken_ext.openai_public`.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tiktoken
from tiktoken_ext.openai_public import ENDOFPROMPT, ENDOFTEXT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

O200K_BASE = "o200k_base"
CL100K_BASE = "cl100k_base"

DATA_DIR = Path(__file__).parent / "data" / "tiktoken"

# From the OpenAI cookbook "How to count tokens with tiktoken" (gpt-3.5-turbo-0613 onwards).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3  # every reply is primed with <|start|>assistant<|message|>

# Image parts are estimated, not measured: the request carries a URL, not pixel sizes.
IMAGE_LOW_DETAIL_TOKENS = 85
IMAGE_DEFAULT_TOKENS = 765  # a 1024x1024 image at "high"/"auto" detail

_CL100K_MODEL_PREFIXES = (
    "gpt-4-",  # gpt-4-0613, gpt-4-32k, gpt-4-turbo...; not gpt-4o / gpt-4.1 / gpt-4.5
    "gpt-3.5",
    "gpt-35-",  # Azure deployment names
    "text-embedding-3",
    "text-embedding-ada-002",
    "davinci-002",
    "babbage-002",
)


@dataclass(frozen=True)
class _EncodingSpec:
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]


# The regexes are not exposed by tiktoken_ext.openai_public (they live inside its
# constructor functions), so they are copied here; tests compare them with the originals.
_SPECS: dict[str, _EncodingSpec] = {
    O200K_BASE: _EncodingSpec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    CL100K_BASE: _EncodingSpec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
}

_encodings: dict[str, tiktoken.Encoding] = {}
_encodings_lock = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built from the bundled vocabulary on first use."""
    encoding = _encodings.get(name)
    if encoding is None:
        # The lock stops concurrent first requests each parsing the vocabulary (~1 s).
        with _encodings_lock:
            encoding = _encodings.get(name)
            if encoding is None:
                encoding = _encodings[name] = _load_encoding(name)
    return encoding


def _read_ranks(path: Path, sha256: str) -> dict[bytes, int]:
    """The vocabulary file's `base64-token rank` lines, after checking its hash.

    Read here rather than with tiktoken's loader, which also copies the file into a
    cache folder: a read-only or unwritable disk must not stop tollgate."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path} is damaged: its sha256 does not match the published one")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def preload(names: Iterable[str] = tuple(_SPECS)) -> None:
    """Parse these vocabularies now (o200k_base takes over a second, cl100k_base about
    half that), not on a first request. Each costs memory for as long as the process
    lives (o200k_base about 42 MB, cl100k_base about 24 MB), so a service preloads only
    the ones its configured models use (`encodings_for`); another loads on first use."""
    for name in names:
        get_encoding(name)


def encodings_for(models: Iterable[str]) -> set[str]:
    """The encodings that counting these models' tokens needs."""
    return {encoding_name_for_model(model) for model in models}


def _load_encoding(name: str) -> tiktoken.Encoding:
    spec = _SPECS[name]
    ranks = _read_ranks(DATA_DIR / f"{name}.tiktoken", spec.sha256)
    encoding = tiktoken.Encoding(
        name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=spec.special_tokens
    )
    # The Rust CoreBPE holds its own copy of the ranks; tiktoken keeps the Python dict
    # only to pickle an Encoding, which tollgate never does. Dropping it (200,000 bytes
    # objects for o200k_base) and handing the freed heap back to the system saves about
    # 30 MB a process.
    encoding._mergeable_ranks = {}
    del ranks
    _trim_heap()
    return encoding


def _trim_heap() -> None:
    """Return freed heap pages to the system (glibc's malloc_trim; elsewhere nothing)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)


def encoding_name_for_model(model: str) -> str:
    """The encoding a model uses; o200k_base for anything not known to be cl100k_base."""
    name = model.rsplit("/", 1)[-1].strip().lower().removeprefix("ft:")
    if name == "gpt-4" or name.startswith(_CL100K_MODEL_PREFIXES):
        return CL100K_BASE
    return O200K_BASE


def encoding_for_model(model: str) -> tiktoken.Encoding:
    return get_encoding(encoding_name_for_model(model))


def count_text(text: str, model: str) -> int:
    """Tokens in plain text; special-token lookalikes such as "<|endoftext|>" are plain text."""
    return _count(encoding_for_model(model), text)


def count_chat_prompt(
    messages: list[dict[str, Any]], model: str, tools: list[Any] | None = None
) -> int:
    """Prompt tokens of a chat completion request.

    Plain string messages are counted exactly as the OpenAI cookbook does (which matches
    the API's `usage.prompt_tokens` for current models). The rest is an estimate: images
    are a fixed 85 or 765 tokens, other non-text parts count as their JSON, and `tools`
    count as their compact JSON, while the API renders tool definitions in its own
    format, so the real figure differs by a few tokens per tool.
    """
    encoding = encoding_for_model(model)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content" and isinstance(value, list):
                total += sum(_count_content_part(encoding, part) for part in value)
            elif key == "tool_calls" and isinstance(value, list):
                total += sum(_count_tool_call(encoding, call) for call in value)
            elif key == "function_call" and isinstance(value, dict):
                total += _count_function(encoding, value)
            else:
                total += _count_value(encoding, value)
            if key == "name":
                total += TOKENS_PER_NAME
    if tools:
        total += _count_value(encoding, tools)
    return total


def _count_value(encoding: tiktoken.Encoding, value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, str):
        value = _compact_json(value)
    return _count(encoding, value)


def _count(encoding: tiktoken.Encoding, text: str) -> int:
    # encode_ordinary's count, from tiktoken's token buffer: building a list of millions
    # of ints would hold the GIL (stalling the gateway's event loop) and the memory.
    buffer = memoryview(encoding._core_bpe.encode_to_tiktoken_buffer(text, set()))
    return buffer.nbytes // 4  # uint32 token ids


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _count_content_part(encoding: tiktoken.Encoding, part: Any) -> int:
    if not isinstance(part, dict):
        return _count_value(encoding, part)
    kind = part.get("type")
    if kind in ("text", "refusal") and isinstance(part.get(kind), str):
        return _count_value(encoding, part[kind])
    if kind == "image_url":
        image = part.get("image_url")
        detail = image.get("detail") if isinstance(image, dict) else None
        return IMAGE_LOW_DETAIL_TOKENS if detail == "low" else IMAGE_DEFAULT_TOKENS
    return _count_value(encoding, part)


def _count_tool_call(encoding: tiktoken.Encoding, call: Any) -> int:
    function = call.get("function") if isinstance(call, dict) else None
    if isinstance(function, dict):
        return _count_function(encoding, function)
    return _count_value(encoding, call)


def _count_function(encoding: tiktoken.Encoding, function: dict[str, Any]) -> int:
    return _count_value(encoding, function.get("name")) + _count_value(
        encoding, function.get("arguments")
    )


def truncate_to_tokens(text: str, model: str, max_tokens: int) -> str:
    """The longest prefix of `text` that is at most `max_tokens` tokens."""
    encoding = encoding_for_model(model)
    tokens = encoding.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    # A cut inside a multi-byte character leaves a partial character at the end: drop it.
    return encoding.decode_bytes(tokens[:max_tokens]).decode("utf-8", errors="ignore")


def split_tokens(text: str, model: str) -> list[str]:
    """`text` split into per-token strings whose concatenation is `text`.

    Where a token ends inside a multi-byte character, it is merged with the tokens that
    complete the character, so every piece is valid UTF-8.
    """
    encoding = encoding_for_model(model)
    pieces: list[str] = []
    pending = b""
    for token_bytes in encoding.decode_tokens_bytes(encoding.encode_ordinary(text)):
        pending += token_bytes
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces
