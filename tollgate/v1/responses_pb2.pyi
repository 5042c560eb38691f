from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredResponse(_message.Message):
    __slots__ = ("project_id", "response_id", "model", "response", "input_items", "upstream_held", "created_at_unix_ms", "expires_at_unix_ms")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    INPUT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_HELD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    response_id: str
    model: str
    response: bytes
    input_items: bytes
    upstream_held: bool
    created_at_unix_ms: int
    expires_at_unix_ms: int
    def __init__(self, project_id: _Optional[str] = ..., response_id: _Optional[str] = ..., model: _Optional[str] = ..., response: _Optional[bytes] = ..., input_items: _Optional[bytes] = ..., upstream_held: _Optional[bool] = ..., created_at_unix_ms: _Optional[int] = ..., expires_at_unix_ms: _Optional[int] = ...) -> None: ...

class PutResponseRequest(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: StoredResponse
    def __init__(self, response: _Optional[_Union[StoredResponse, _Mapping]] = ...) -> None: ...

class PutResponseReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetResponseRequest(_message.Message):
    __slots__ = ("project_id", "response_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    response_id: str
    def __init__(self, project_id: _Optional[str] = ..., response_id: _Optional[str] = ...) -> None: ...

class GetResponseReply(_message.Message):
    __slots__ = ("found", "response")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    response: StoredResponse
    def __init__(self, found: _Optional[bool] = ..., response: _Optional[_Union[StoredResponse, _Mapping]] = ...) -> None: ...

class DeleteResponseRequest(_message.Message):
    __slots__ = ("project_id", "response_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    response_id: str
    def __init__(self, project_id: _Optional[str] = ..., response_id: _Optional[str] = ...) -> None: ...

class DeleteResponseReply(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
