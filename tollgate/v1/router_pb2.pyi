from tollgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Api(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    API_CHAT: _ClassVar[Api]
    API_RESPONSES: _ClassVar[Api]
    API_COMPLETIONS: _ClassVar[Api]
API_CHAT: Api
API_RESPONSES: Api
API_COMPLETIONS: Api

class ListRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeploymentState(_message.Message):
    __slots__ = ("provider", "model", "weight", "cooling_until_unix_ms", "consecutive_failures", "recent_errors")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    COOLING_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    RECENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    weight: int
    cooling_until_unix_ms: int
    consecutive_failures: int
    recent_errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., weight: _Optional[int] = ..., cooling_until_unix_ms: _Optional[int] = ..., consecutive_failures: _Optional[int] = ..., recent_errors: _Optional[_Iterable[str]] = ...) -> None: ...

class RouteState(_message.Message):
    __slots__ = ("model", "deployments", "fallbacks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    deployments: _containers.RepeatedCompositeFieldContainer[DeploymentState]
    fallbacks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., deployments: _Optional[_Iterable[_Union[DeploymentState, _Mapping]]] = ..., fallbacks: _Optional[_Iterable[str]] = ...) -> None: ...

class PriorityRule(_message.Message):
    __slots__ = ("priority", "models")
    class ModelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    priority: _common_pb2.Priority
    models: _containers.ScalarMap[str, str]
    def __init__(self, priority: _Optional[_Union[_common_pb2.Priority, str]] = ..., models: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "priority_rules", "task_rules")
    class TaskRulesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_RULES_FIELD_NUMBER: _ClassVar[int]
    TASK_RULES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteState]
    priority_rules: _containers.RepeatedCompositeFieldContainer[PriorityRule]
    task_rules: _containers.ScalarMap[str, str]
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteState, _Mapping]]] = ..., priority_rules: _Optional[_Iterable[_Union[PriorityRule, _Mapping]]] = ..., task_rules: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "stream", "include_usage", "body", "prompt_tokens_estimate", "started_at_unix_ms", "model_asked", "route_reason", "cache_mode", "priority", "compacted_tokens", "api")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_USAGE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ASKED_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    CACHE_MODE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    stream: bool
    include_usage: bool
    body: bytes
    prompt_tokens_estimate: int
    started_at_unix_ms: int
    model_asked: str
    route_reason: _common_pb2.RouteReason
    cache_mode: _common_pb2.CacheMode
    priority: _common_pb2.Priority
    compacted_tokens: int
    api: Api
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., stream: _Optional[bool] = ..., include_usage: _Optional[bool] = ..., body: _Optional[bytes] = ..., prompt_tokens_estimate: _Optional[int] = ..., started_at_unix_ms: _Optional[int] = ..., model_asked: _Optional[str] = ..., route_reason: _Optional[_Union[_common_pb2.RouteReason, str]] = ..., cache_mode: _Optional[_Union[_common_pb2.CacheMode, str]] = ..., priority: _Optional[_Union[_common_pb2.Priority, str]] = ..., compacted_tokens: _Optional[int] = ..., api: _Optional[_Union[Api, str]] = ...) -> None: ...

class Served(_message.Message):
    __slots__ = ("model", "provider", "deployment", "attempts", "cache_hit", "route", "upstream_ms", "cost_fraction")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_MS_FIELD_NUMBER: _ClassVar[int]
    COST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    deployment: str
    attempts: int
    cache_hit: bool
    route: str
    upstream_ms: int
    cost_fraction: str
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., deployment: _Optional[str] = ..., attempts: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., route: _Optional[str] = ..., upstream_ms: _Optional[int] = ..., cost_fraction: _Optional[str] = ...) -> None: ...

class ChatEvent(_message.Message):
    __slots__ = ("response", "chunk", "error", "usage", "served")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    response: bytes
    chunk: bytes
    error: _common_pb2.Error
    usage: _common_pb2.Usage
    served: Served
    def __init__(self, response: _Optional[bytes] = ..., chunk: _Optional[bytes] = ..., error: _Optional[_Union[_common_pb2.Error, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., served: _Optional[_Union[Served, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "served_by", "provider", "provider_kind", "candidates", "native_apis")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_KIND_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    NATIVE_APIS_FIELD_NUMBER: _ClassVar[int]
    id: str
    served_by: str
    provider: str
    provider_kind: str
    candidates: _containers.RepeatedScalarFieldContainer[str]
    native_apis: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., served_by: _Optional[str] = ..., provider: _Optional[str] = ..., provider_kind: _Optional[str] = ..., candidates: _Optional[_Iterable[str]] = ..., native_apis: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "body", "prompt_tokens_estimate", "started_at_unix_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    body: bytes
    prompt_tokens_estimate: int
    started_at_unix_ms: int
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., body: _Optional[bytes] = ..., prompt_tokens_estimate: _Optional[int] = ..., started_at_unix_ms: _Optional[int] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("body", "error", "usage", "model_served")
    BODY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SERVED_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    error: _common_pb2.Error
    usage: _common_pb2.Usage
    model_served: str
    def __init__(self, body: _Optional[bytes] = ..., error: _Optional[_Union[_common_pb2.Error, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model_served: _Optional[str] = ...) -> None: ...
