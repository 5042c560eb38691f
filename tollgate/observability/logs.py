"""Log lines: plain text or one JSON object a line, each with the request id of the
call it was logged for, and never a secret.

    setup_logging("gateway", "INFO", "json", secrets=("the-admin-token", ...))
    with request_scope(RequestId("req_...")):   # every line logged inside carries it
        log.info("...")

A JSON line holds `time` (UTC, ISO 8601 with milliseconds), `level`, `service`,
`logger`, `message`, `request_id` when the line was logged while handling a call,
`exc` for a traceback, and any fields a caller passed as `extra={"fields": {...}}`
(the gateway's access line does). Secrets never reach a line: every line (message,
fields and traceback) is scrubbed of the secrets the process was configured with
(admin token, internal token, upstream keys) and of anything shaped like a project
key (`tg-...`), an upstream key (`sk-...`) or an `Authorization` value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Protocol

REDACTED = "[redacted]"
# Shapes of secrets, whatever this process was told: project keys (tg- and 43 URL-safe
# characters), OpenAI/Anthropic-style keys, Google API keys, bearer credentials.
_SHAPES = re.compile(
    r"tg-[A-Za-z0-9_-]{16,}"
    r"|sk-[A-Za-z0-9_-]{8,}"
    r"|AIza[A-Za-z0-9_-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
)
# A line without any of these cannot match _SHAPES (one C-speed search rules it out).
_HINTS = re.compile(r"tg-|sk-|AIza|(?i:bearer)")


class HasRequestId(Protocol):
    @property
    def request_id(self) -> str | None: ...


@dataclass(frozen=True)
class RequestId:
    """A call's id, known when the call starts (a gRPC request's `request_id`)."""

    request_id: str | None


_CALL: ContextVar[HasRequestId | None] = ContextVar("tollgate_call", default=None)


def current_request_id() -> str | None:
    call = _CALL.get()
    return (call.request_id or None) if call is not None else None


def bind(call: HasRequestId | None) -> Token[HasRequestId | None]:
    """Lines logged from now on in this context carry `call.request_id` (a gRPC
    request can be bound as it is: its `request_id` is read when a line is logged)."""
    return _CALL.set(call)


def unbind(token: Token[HasRequestId | None]) -> None:
    """Undo `bind`; nothing to undo when the binding's context is already gone (a
    stream closed from another task)."""
    try:
        _CALL.reset(token)
    except ValueError:
        pass


@contextlib.contextmanager
def request_scope(call: HasRequestId) -> Iterator[None]:
    """Lines logged inside carry `call.request_id` (read when each line is logged, so a
    call whose id is given later still carries it)."""
    token = _CALL.set(call)
    try:
        yield
    finally:
        _CALL.reset(token)


class Redactor:
    """Scrubs the secrets it was given (and `add`ed later) and anything shaped like a
    secret from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        known = set(self._known) | {s for s in secrets if s and len(s) >= 6}
        self._known = tuple(sorted(known, key=len, reverse=True))  # a longer one first

    def __call__(self, text: str) -> str:
        # Substring tests first (C speed): most lines hold nothing to scrub.
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _HINTS.search(text):
            text = _SHAPES.sub(REDACTED, text)
        return text


# The process's redactor: setup_logging gives it the configured secrets, and a secret
# learnt later (the internal token read from its file) is added with `add_secret`.
REDACT = Redactor()


def add_secret(*secrets: str) -> None:
    REDACT.add(*secrets)


class _Context(logging.Filter):
    """Gives every record its request id and scrubs its message of secrets."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        if not getattr(record, "scrubbed", False):
            message = record.getMessage()
            clean = self.redact(message)
            if clean != message or record.args:
                record.msg, record.args = clean, None
            record.scrubbed = True  # a second handler need not scrub it again
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, redact: Redactor) -> None:
        super().__init__()
        self.service = service
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        # Scrubbed once, as the line it is: message, fields and traceback alike. What is
        # scrubbed (tokens, keys, URLs) has nothing JSON escapes, and "[redacted]" keeps
        # the line valid JSON.
        return self.redact(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self, service: str, redact: Redactor) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {service}: %(message)s")
        self.redact = redact

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return self.redact(super().formatException(ei))


def setup_logging(
    service: str, level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()
) -> None:
    """Log to stderr in `fmt` ("text" or "json"), every line scrubbed of `secrets`."""
    redact = REDACT
    redact.add(*secrets)
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(service, redact) if fmt == "json" else TextFormatter(service, redact)
    )
    handler.setFormatter(formatter)
    handler.addFilter(_Context(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
