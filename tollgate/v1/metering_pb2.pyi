from tollgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_STATUS_UNSPECIFIED: _ClassVar[CallStatus]
    CALL_STATUS_OK: _ClassVar[CallStatus]
    CALL_STATUS_FAILED: _ClassVar[CallStatus]
    CALL_STATUS_PARTIAL: _ClassVar[CallStatus]
CALL_STATUS_UNSPECIFIED: CallStatus
CALL_STATUS_OK: CallStatus
CALL_STATUS_FAILED: CallStatus
CALL_STATUS_PARTIAL: CallStatus

class UsageRecord(_message.Message):
    __slots__ = ("request_id", "caller", "model_requested", "model_served", "provider", "usage", "usage_source", "status", "http_status", "latency_ms", "started_at_unix_ms", "stream")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_SERVED_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    USAGE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model_requested: str
    model_served: str
    provider: str
    usage: _common_pb2.Usage
    usage_source: _common_pb2.UsageSource
    status: CallStatus
    http_status: int
    latency_ms: int
    started_at_unix_ms: int
    stream: bool
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model_requested: _Optional[str] = ..., model_served: _Optional[str] = ..., provider: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., usage_source: _Optional[_Union[_common_pb2.UsageSource, str]] = ..., status: _Optional[_Union[CallStatus, str]] = ..., http_status: _Optional[int] = ..., latency_ms: _Optional[int] = ..., started_at_unix_ms: _Optional[int] = ..., stream: _Optional[bool] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("cost", "duplicate")
    COST_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.Money
    duplicate: bool
    def __init__(self, cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class CountTokensRequest(_message.Message):
    __slots__ = ("model", "body")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    model: str
    body: bytes
    def __init__(self, model: _Optional[str] = ..., body: _Optional[bytes] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("prompt_tokens", "encoding")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    encoding: str
    def __init__(self, prompt_tokens: _Optional[int] = ..., encoding: _Optional[str] = ...) -> None: ...

class UsageReportRequest(_message.Message):
    __slots__ = ("project_id", "period")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    period: str
    def __init__(self, project_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("model", "total", "requests", "input_tokens", "output_tokens", "cached_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    def __init__(self, model: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ...) -> None: ...

class UsageReport(_message.Message):
    __slots__ = ("project_id", "period", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "by_model")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BY_MODEL_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    period: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    by_model: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    def __init__(self, project_id: _Optional[str] = ..., period: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., by_model: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ...) -> None: ...
