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
    CALL_STATUS_INTERRUPTED: _ClassVar[CallStatus]
CALL_STATUS_UNSPECIFIED: CallStatus
CALL_STATUS_OK: CallStatus
CALL_STATUS_FAILED: CallStatus
CALL_STATUS_PARTIAL: CallStatus
CALL_STATUS_INTERRUPTED: CallStatus

class UsageRecord(_message.Message):
    __slots__ = ("request_id", "caller", "model_requested", "model_served", "provider", "usage", "usage_source", "status", "http_status", "latency_ms", "started_at_unix_ms", "stream", "deployment", "attempts", "cache_hit", "route_reason", "reference_model", "compacted_tokens", "cost_fraction", "batch_id")
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
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_MODEL_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
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
    deployment: str
    attempts: int
    cache_hit: bool
    route_reason: _common_pb2.RouteReason
    reference_model: str
    compacted_tokens: int
    cost_fraction: str
    batch_id: str
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model_requested: _Optional[str] = ..., model_served: _Optional[str] = ..., provider: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., usage_source: _Optional[_Union[_common_pb2.UsageSource, str]] = ..., status: _Optional[_Union[CallStatus, str]] = ..., http_status: _Optional[int] = ..., latency_ms: _Optional[int] = ..., started_at_unix_ms: _Optional[int] = ..., stream: _Optional[bool] = ..., deployment: _Optional[str] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., route_reason: _Optional[_Union[_common_pb2.RouteReason, str]] = ..., reference_model: _Optional[str] = ..., compacted_tokens: _Optional[int] = ..., cost_fraction: _Optional[str] = ..., batch_id: _Optional[str] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("cost", "duplicate")
    COST_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.Money
    duplicate: bool
    def __init__(self, cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class UsageBatch(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordUsageBatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RecordUsageBatchResult, _Mapping]]] = ...) -> None: ...

class RecordUsageBatchResult(_message.Message):
    __slots__ = ("request_id", "recorded", "refused")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    recorded: RecordUsageResponse
    refused: str
    def __init__(self, request_id: _Optional[str] = ..., recorded: _Optional[_Union[RecordUsageResponse, _Mapping]] = ..., refused: _Optional[str] = ...) -> None: ...

class DeadLettersRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("request_id", "project_id", "error", "created_at_unix_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    project_id: str
    error: str
    created_at_unix_ms: int
    def __init__(self, request_id: _Optional[str] = ..., project_id: _Optional[str] = ..., error: _Optional[str] = ..., created_at_unix_ms: _Optional[int] = ...) -> None: ...

class DeadLettersResponse(_message.Message):
    __slots__ = ("count", "latest")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    count: int
    latest: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    def __init__(self, count: _Optional[int] = ..., latest: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("project_id", "period", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "by_model", "forecast", "project", "currency", "cache_hits", "saved")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BY_MODEL_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    period: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    by_model: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    forecast: Forecast
    project: str
    currency: str
    cache_hits: int
    saved: _common_pb2.Money
    def __init__(self, project_id: _Optional[str] = ..., period: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., by_model: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ..., forecast: _Optional[_Union[Forecast, _Mapping]] = ..., project: _Optional[str] = ..., currency: _Optional[str] = ..., cache_hits: _Optional[int] = ..., saved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("project_id", "from_day", "to_day", "group_by", "project")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    from_day: str
    to_day: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    project: str
    def __init__(self, project_id: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., project: _Optional[str] = ...) -> None: ...

class ReportLine(_message.Message):
    __slots__ = ("project_id", "project", "key_id", "model", "end_user", "day", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens", "failed_requests", "key_name")
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
    FAILED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
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
    failed_requests: int
    key_name: str
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., key_id: _Optional[str] = ..., model: _Optional[str] = ..., end_user: _Optional[str] = ..., day: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., failed_requests: _Optional[int] = ..., key_name: _Optional[str] = ...) -> None: ...

class ReportTotal(_message.Message):
    __slots__ = ("total", "requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens", "failed_requests")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FAILED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    failed_requests: int
    def __init__(self, total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., failed_requests: _Optional[int] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("from_day", "to_day", "group_by", "lines", "totals", "forecast", "project_id", "project")
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    from_day: str
    to_day: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    lines: _containers.RepeatedCompositeFieldContainer[ReportLine]
    totals: _containers.RepeatedCompositeFieldContainer[ReportTotal]
    forecast: Forecast
    project_id: str
    project: str
    def __init__(self, from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., lines: _Optional[_Iterable[_Union[ReportLine, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[ReportTotal, _Mapping]]] = ..., forecast: _Optional[_Union[Forecast, _Mapping]] = ..., project_id: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class SavingsRequest(_message.Message):
    __slots__ = ("project_id", "month", "project")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    month: str
    project: str
    def __init__(self, project_id: _Optional[str] = ..., month: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class SavingsLine(_message.Message):
    __slots__ = ("project_id", "project", "lever", "requests", "cost", "reference", "saved", "compacted_tokens")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LEVER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: str
    lever: str
    requests: int
    cost: _common_pb2.Money
    reference: _common_pb2.Money
    saved: _common_pb2.Money
    compacted_tokens: int
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., lever: _Optional[str] = ..., requests: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reference: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., saved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., compacted_tokens: _Optional[int] = ...) -> None: ...

class SavingsTotal(_message.Message):
    __slots__ = ("requests", "cache_hits", "cost", "reference", "saved", "compacted_tokens")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    cache_hits: int
    cost: _common_pb2.Money
    reference: _common_pb2.Money
    saved: _common_pb2.Money
    compacted_tokens: int
    def __init__(self, requests: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reference: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., saved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., compacted_tokens: _Optional[int] = ...) -> None: ...

class SavingsResponse(_message.Message):
    __slots__ = ("month", "lines", "totals")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    month: str
    lines: _containers.RepeatedCompositeFieldContainer[SavingsLine]
    totals: _containers.RepeatedCompositeFieldContainer[SavingsTotal]
    def __init__(self, month: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[SavingsLine, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[SavingsTotal, _Mapping]]] = ...) -> None: ...

class WhatIfRequest(_message.Message):
    __slots__ = ("project_id", "month", "model_map", "prices", "cache_hit_rate", "project")
    class ModelMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class PricesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PriceOverride
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PriceOverride, _Mapping]] = ...) -> None: ...
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    MODEL_MAP_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    month: str
    model_map: _containers.ScalarMap[str, str]
    prices: _containers.MessageMap[str, PriceOverride]
    cache_hit_rate: str
    project: str
    def __init__(self, project_id: _Optional[str] = ..., month: _Optional[str] = ..., model_map: _Optional[_Mapping[str, str]] = ..., prices: _Optional[_Mapping[str, PriceOverride]] = ..., cache_hit_rate: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class PriceOverride(_message.Message):
    __slots__ = ("input", "output", "cached_input")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    input: str
    output: str
    cached_input: str
    def __init__(self, input: _Optional[str] = ..., output: _Optional[str] = ..., cached_input: _Optional[str] = ...) -> None: ...

class WhatIfLine(_message.Message):
    __slots__ = ("model", "priced_as", "requests", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "actual", "what_if")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PRICED_AS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    WHAT_IF_FIELD_NUMBER: _ClassVar[int]
    model: str
    priced_as: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    actual: _common_pb2.Money
    what_if: _common_pb2.Money
    def __init__(self, model: _Optional[str] = ..., priced_as: _Optional[str] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., actual: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., what_if: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class WhatIfResponse(_message.Message):
    __slots__ = ("project_id", "project", "month", "currency", "lines", "actual", "what_if", "difference")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_FIELD_NUMBER: _ClassVar[int]
    WHAT_IF_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: str
    month: str
    currency: str
    lines: _containers.RepeatedCompositeFieldContainer[WhatIfLine]
    actual: _common_pb2.Money
    what_if: _common_pb2.Money
    difference: str
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., month: _Optional[str] = ..., currency: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[WhatIfLine, _Mapping]]] = ..., actual: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., what_if: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., difference: _Optional[str] = ...) -> None: ...

class BillRequest(_message.Message):
    __slots__ = ("project", "month")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    project: str
    month: str
    def __init__(self, project: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

class AllocateRequest(_message.Message):
    __slots__ = ("total", "currency", "from_day", "to_day", "projects")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    total: str
    currency: str
    from_day: str
    to_day: str
    projects: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, total: _Optional[str] = ..., currency: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., projects: _Optional[_Iterable[str]] = ...) -> None: ...

class AllocationShare(_message.Message):
    __slots__ = ("project", "metered", "share")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    METERED_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    project: str
    metered: _common_pb2.Money
    share: _common_pb2.Money
    def __init__(self, project: _Optional[str] = ..., metered: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., share: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class AllocateResponse(_message.Message):
    __slots__ = ("total", "from_day", "to_day", "shares")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    total: _common_pb2.Money
    from_day: str
    to_day: str
    shares: _containers.RepeatedCompositeFieldContainer[AllocationShare]
    def __init__(self, total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., shares: _Optional[_Iterable[_Union[AllocationShare, _Mapping]]] = ...) -> None: ...

class ExportCallsRequest(_message.Message):
    __slots__ = ("project", "from_day", "to_day", "page_size")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    project: str
    from_day: str
    to_day: str
    page_size: int
    def __init__(self, project: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class CallRecord(_message.Message):
    __slots__ = ("request_id", "started_at", "key_id", "end_user", "model_requested", "model_served", "provider", "deployment", "status", "http_status", "stream", "latency_ms", "usage_source", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens", "cost", "saved", "cache_hit", "route_reason", "attempts", "compacted_tokens", "batch_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    END_USER_FIELD_NUMBER: _ClassVar[int]
    MODEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_SERVED_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    SAVED_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    started_at: str
    key_id: str
    end_user: str
    model_requested: str
    model_served: str
    provider: str
    deployment: str
    status: CallStatus
    http_status: int
    stream: bool
    latency_ms: int
    usage_source: _common_pb2.UsageSource
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    cost: _common_pb2.Money
    saved: _common_pb2.Money
    cache_hit: bool
    route_reason: _common_pb2.RouteReason
    attempts: int
    compacted_tokens: int
    batch_id: str
    def __init__(self, request_id: _Optional[str] = ..., started_at: _Optional[str] = ..., key_id: _Optional[str] = ..., end_user: _Optional[str] = ..., model_requested: _Optional[str] = ..., model_served: _Optional[str] = ..., provider: _Optional[str] = ..., deployment: _Optional[str] = ..., status: _Optional[_Union[CallStatus, str]] = ..., http_status: _Optional[int] = ..., stream: _Optional[bool] = ..., latency_ms: _Optional[int] = ..., usage_source: _Optional[_Union[_common_pb2.UsageSource, str]] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., saved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., cache_hit: _Optional[bool] = ..., route_reason: _Optional[_Union[_common_pb2.RouteReason, str]] = ..., attempts: _Optional[int] = ..., compacted_tokens: _Optional[int] = ..., batch_id: _Optional[str] = ...) -> None: ...

class CallsPage(_message.Message):
    __slots__ = ("project_id", "project", "from_day", "to_day", "calls")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: str
    from_day: str
    to_day: str
    calls: _containers.RepeatedCompositeFieldContainer[CallRecord]
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[CallRecord, _Mapping]]] = ...) -> None: ...

class HourlySpendRequest(_message.Message):
    __slots__ = ("project", "hours")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    project: str
    hours: int
    def __init__(self, project: _Optional[str] = ..., hours: _Optional[int] = ...) -> None: ...

class HourlySpend(_message.Message):
    __slots__ = ("hour", "total", "requests", "input_tokens", "output_tokens", "cached_tokens", "cache_hits")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    hour: str
    total: _common_pb2.Money
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_hits: int
    def __init__(self, hour: _Optional[str] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., cache_hits: _Optional[int] = ...) -> None: ...

class HourlySpendResponse(_message.Message):
    __slots__ = ("project_id", "project", "hours")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    project: str
    hours: _containers.RepeatedCompositeFieldContainer[HourlySpend]
    def __init__(self, project_id: _Optional[str] = ..., project: _Optional[str] = ..., hours: _Optional[_Iterable[_Union[HourlySpend, _Mapping]]] = ...) -> None: ...

class RecentCallsRequest(_message.Message):
    __slots__ = ("project", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...
