from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class UsageSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_SOURCE_UNSPECIFIED: _ClassVar[UsageSource]
    USAGE_SOURCE_PROVIDER: _ClassVar[UsageSource]
    USAGE_SOURCE_ESTIMATED: _ClassVar[UsageSource]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_MEDIUM: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]

class RouteReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_REASON_ASKED: _ClassVar[RouteReason]
    ROUTE_REASON_PRIORITY: _ClassVar[RouteReason]
    ROUTE_REASON_TASK: _ClassVar[RouteReason]
    ROUTE_REASON_DOWNGRADE: _ClassVar[RouteReason]
    ROUTE_REASON_PREFERENCE: _ClassVar[RouteReason]
    ROUTE_REASON_FALLBACK: _ClassVar[RouteReason]
    ROUTE_REASON_CACHE: _ClassVar[RouteReason]

class CacheMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_MODE_DEFAULT: _ClassVar[CacheMode]
    CACHE_MODE_USE: _ClassVar[CacheMode]
    CACHE_MODE_SKIP: _ClassVar[CacheMode]
USAGE_SOURCE_UNSPECIFIED: UsageSource
USAGE_SOURCE_PROVIDER: UsageSource
USAGE_SOURCE_ESTIMATED: UsageSource
PRIORITY_UNSPECIFIED: Priority
PRIORITY_HIGH: Priority
PRIORITY_MEDIUM: Priority
PRIORITY_LOW: Priority
ROUTE_REASON_ASKED: RouteReason
ROUTE_REASON_PRIORITY: RouteReason
ROUTE_REASON_TASK: RouteReason
ROUTE_REASON_DOWNGRADE: RouteReason
ROUTE_REASON_PREFERENCE: RouteReason
ROUTE_REASON_FALLBACK: RouteReason
ROUTE_REASON_CACHE: RouteReason
CACHE_MODE_DEFAULT: CacheMode
CACHE_MODE_USE: CacheMode
CACHE_MODE_SKIP: CacheMode

class Caller(_message.Message):
    __slots__ = ("project_id", "key_id", "end_user")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    END_USER_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    key_id: str
    end_user: str
    def __init__(self, project_id: _Optional[str] = ..., key_id: _Optional[str] = ..., end_user: _Optional[str] = ...) -> None: ...

class Money(_message.Message):
    __slots__ = ("amount", "currency")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount: str
    currency: str
    def __init__(self, amount: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cache_write_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_write_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("http_status", "type", "code", "message", "param")
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PARAM_FIELD_NUMBER: _ClassVar[int]
    http_status: int
    type: str
    code: str
    message: str
    param: str
    def __init__(self, http_status: _Optional[int] = ..., type: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., param: _Optional[str] = ...) -> None: ...
