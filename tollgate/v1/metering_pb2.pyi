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
    __slots__ = ("project_id", "period", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "by_model", "forecast")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BY_MODEL_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    period: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    by_model: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    forecast: Forecast
    def __init__(self, project_id: _Optional[str] = ..., period: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., by_model: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ..., forecast: _Optional[_Union[Forecast, _Mapping]] = ...) -> None: ...

class Forecast(_message.Message):
    __slots__ = ("month", "as_of", "spent", "daily_average", "window_from", "window_to", "window_days", "days_left", "forecast")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    DAILY_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FROM_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TO_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    DAYS_LEFT_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    month: str
    as_of: str
    spent: _common_pb2.Money
    daily_average: _common_pb2.Money
    window_from: str
    window_to: str
    window_days: int
    days_left: int
    forecast: _common_pb2.Money
    def __init__(self, month: _Optional[str] = ..., as_of: _Optional[str] = ..., spent: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., daily_average: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., window_from: _Optional[str] = ..., window_to: _Optional[str] = ..., window_days: _Optional[int] = ..., days_left: _Optional[int] = ..., forecast: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("project_id", "from_day", "to_day", "group_by")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    from_day: str
    to_day: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project_id: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ...) -> None: ...

class ReportLine(_message.Message):
    __slots__ = ("project_id", "project", "key_id", "model", "end_user", "day", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    END_USER_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: str
    key_id: str
    model: str
    end_user: str
    day: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., key_id: _Optional[str] = ..., model: _Optional[str] = ..., end_user: _Optional[str] = ..., day: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class ReportTotal(_message.Message):
    __slots__ = ("total", "requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    def __init__(self, total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("from_day", "to_day", "group_by", "lines", "totals", "forecast")
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    from_day: str
    to_day: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    lines: _containers.RepeatedCompositeFieldContainer[ReportLine]
    totals: _containers.RepeatedCompositeFieldContainer[ReportTotal]
    forecast: Forecast
    def __init__(self, from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., lines: _Optional[_Iterable[_Union[ReportLine, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[ReportTotal, _Mapping]]] = ..., forecast: _Optional[_Union[Forecast, _Mapping]] = ...) -> None: ...
