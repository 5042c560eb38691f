"""An upload's multipart/form-data body (POST /v1/files), parsed as it arrives with
python-multipart's streaming parser, and refused with a 413 as soon as it is known to
be larger than the file cap: from Content-Length before reading, else while reading.
Only the `file` part may be large; every other field is capped at MAX_FIELD_BYTES. A
form must end with its closing boundary (a body cut short is a 400, never a file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from services.gateway.errors import ApiError, bad_request

MAX_FIELD_BYTES = 1024
# Room for the boundaries, the part headers and the small fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
FILE_FIELD = "file"


@dataclass
class Form:
    fields: dict[str, bytes] = field(default_factory=dict)
    filename: str | None = None  # None: no `file` part
    file: bytearray = field(default_factory=bytearray)


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The file is larger than {limit} bytes.", param="file", code="too_large")


class _Parts:
    """The callbacks of the parser: each part's headers, then its data."""

    def __init__(self, form: Form, max_file_bytes: int) -> None:
        self.form = form
        self.max_file_bytes = max_file_bytes
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name = ""
        self.value = bytearray()

    def on_part_begin(self) -> None:
        self.headers, self.name, self.value = {}, "", bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.name == FILE_FIELD:
            filename = options.get(b"filename", b"")
            self.form.filename = filename.decode("utf-8", "replace") or "upload.jsonl"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.name == FILE_FIELD:
            self.form.file += data[start:end]
            if len(self.form.file) > self.max_file_bytes:
                raise too_large(self.max_file_bytes)
        else:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD_BYTES:
                raise bad_request(f"'{self.name}' is too long.", param=self.name or None)

    def on_part_end(self) -> None:
        if self.name != FILE_FIELD:
            self.form.fields[self.name] = bytes(self.value)


async def read_form(request: Request, max_file_bytes: int) -> Form:
    """The upload's fields and file; a 4xx naming the field when it is not a form."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise bad_request("Upload the file as multipart/form-data.", param="file")
    limit = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(max_file_bytes)
    form = Form()
    parts = _Parts(form, max_file_bytes)
    callbacks = {
        name: getattr(parts, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        read = 0
        async for chunk in request.stream():
            read += len(chunk)
            if read > limit:
                raise too_large(max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # the parser's own errors: a malformed form
        raise bad_request(f"The multipart body is malformed: {exc}", param="file") from None
    # finalize() does not check that the form was closed: a body cut short would store
    # the part of the file that arrived.
    if parser.state != MultipartState.END:
        raise bad_request("The multipart body ends before its closing boundary.", param="file")
    return form
