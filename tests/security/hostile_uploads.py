"""Hostile uploads for POST /v1/files (multipart/form-data): each one must be refused
with a 4xx in OpenAI's format (`param` named where the door knows it), and none may
store a file. The file cap the suite runs with is FILE_MAX_BYTES."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

FILE_MAX_BYTES = 1_000_000  # TOLLGATE_FILE_MAX_BYTES of the security suites
BOUNDARY = "fuzz-boundary-7d41"
LINE = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}}\n'
)


@dataclass(frozen=True)
class Upload:
    label: str
    content_type: str
    body: bytes | Iterator[bytes]  # an iterator is sent chunked, without Content-Length
    status: int  # the answer it must get
    param: str | None  # the field the error must name (None: not checked)


def part(name: bytes, value: bytes, *, filename: bytes | None = None) -> bytes:
    disposition = b'form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return (
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + value + b"\r\n"
    )


def form(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (b"--" + BOUNDARY.encode() + b"--\r\n" if close else b"")


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PURPOSE = part(b"purpose", b"batch")


def _huge_chunks() -> Iterator[bytes]:
    yield b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="file"; '
    yield b'filename="big.jsonl"\r\n\r\n'
    for _ in range(2 * FILE_MAX_BYTES // 65536 + 1):
        yield LINE * (65536 // len(LINE))


def hostile_uploads() -> list[Upload]:
    """Every hostile upload, with the answer it must get."""
    file = part(b"file", LINE, filename=b"in.jsonl")
    return [
        Upload("a file past the cap", MULTIPART,
               form(PURPOSE, part(b"file", LINE * (2 * FILE_MAX_BYTES // len(LINE)),
                                  filename=b"big.jsonl")), 413, "file"),
        Upload("a file past the cap, chunked", MULTIPART, _huge_chunks(), 413, "file"),
        Upload("a NUL in the filename", MULTIPART,
               form(PURPOSE, part(b"file", LINE, filename=b"in\x00.jsonl")), 400, "file"),
        Upload("another purpose", MULTIPART,
               form(part(b"purpose", b"fine-tune"), file), 400, "purpose"),
        Upload("a NUL in the purpose", MULTIPART,
               form(part(b"purpose", b"batch\x00"), file), 400, "purpose"),
        Upload("invalid UTF-8 in the purpose", MULTIPART,
               form(part(b"purpose", b"b\xffatch"), file), 400, "purpose"),
        Upload("a huge purpose", MULTIPART,
               form(part(b"purpose", b"batch" * 1000), file), 400, "purpose"),
        Upload("no purpose", MULTIPART, form(file), 400, "purpose"),
        Upload("no file part", MULTIPART, form(PURPOSE), 400, "file"),
        Upload("a file field without a filename", MULTIPART,
               form(PURPOSE, part(b"file", b"")), 400, "file"),
        Upload("an empty file", MULTIPART,
               form(PURPOSE, part(b"file", b"", filename=b"in.jsonl")), 400, "file"),
        Upload("a NUL in the file", MULTIPART,
               form(PURPOSE, part(b"file", LINE + b"\x00", filename=b"in.jsonl")), 400, "file"),
        Upload("invalid UTF-8 in the file", MULTIPART,
               form(PURPOSE, part(b"file", b"\xff\xfe" + LINE, filename=b"in.jsonl")),
               400, "file"),
        Upload("a huge field", MULTIPART, form(PURPOSE, part(b"x", b"y" * 5000), file),
               400, None),
        Upload("a huge part header and an empty file", MULTIPART,
               form(PURPOSE, part(b"file", b"", filename=b"f" * 200_000)), 400, "file"),
        Upload("many small fields and no file", MULTIPART,
               form(*(part(b"f%d" % i, b"v") for i in range(5000))), 400, None),
        Upload("a truncated form", MULTIPART,
               form(PURPOSE, file, close=False)[:-10], 400, None),
        Upload("no boundary", "multipart/form-data", form(PURPOSE, file), 400, "file"),
        Upload("another boundary", "multipart/form-data; boundary=elsewhere",
               form(PURPOSE, file), 400, None),
        Upload("a 500-character boundary", "multipart/form-data; boundary=" + "b" * 500,
               form(PURPOSE, file), 400, None),
        Upload("JSON instead of a form", "application/json",
               b'{"purpose": "batch", "file": "x"}', 400, "file"),
        Upload("no content type", "", form(PURPOSE, file), 400, "file"),
        Upload("garbage bytes", MULTIPART, bytes(range(256)) * 40, 400, None),
    ]  # fmt: skip
