from tollgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuthorizeRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "prompt_tokens_estimate", "max_completion_tokens", "choices")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    prompt_tokens_estimate: int
    max_completion_tokens: int
    choices: int
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., prompt_tokens_estimate: _Optional[int] = ..., max_completion_tokens: _Optional[int] = ..., choices: _Optional[int] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("decision", "reserved", "message")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[AuthorizeResponse.Decision]
        ALLOWED: _ClassVar[AuthorizeResponse.Decision]
        BUDGET_EXCEEDED: _ClassVar[AuthorizeResponse.Decision]
        KEY_REVOKED: _ClassVar[AuthorizeResponse.Decision]
        MODEL_NOT_PRICED: _ClassVar[AuthorizeResponse.Decision]
        KEY_PAUSED: _ClassVar[AuthorizeResponse.Decision]
    DECISION_UNSPECIFIED: AuthorizeResponse.Decision
    ALLOWED: AuthorizeResponse.Decision
    BUDGET_EXCEEDED: AuthorizeResponse.Decision
    KEY_REVOKED: AuthorizeResponse.Decision
    MODEL_NOT_PRICED: AuthorizeResponse.Decision
    KEY_PAUSED: AuthorizeResponse.Decision
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    decision: AuthorizeResponse.Decision
    reserved: _common_pb2.Money
    message: str
    def __init__(self, decision: _Optional[_Union[AuthorizeResponse.Decision, str]] = ..., reserved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class SettleRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "usage", "started_at_unix_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    usage: _common_pb2.Usage
    started_at_unix_ms: int
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., started_at_unix_ms: _Optional[int] = ...) -> None: ...

class SettleResponse(_message.Message):
    __slots__ = ("cost", "already_settled")
    COST_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SETTLED_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.Money
    already_settled: bool
    def __init__(self, cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., already_settled: _Optional[bool] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("released",)
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    released: bool
    def __init__(self, released: _Optional[bool] = ...) -> None: ...

class GetBudgetStatusRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class BudgetStatus(_message.Message):
    __slots__ = ("project_id", "period", "limit", "spent", "reserved", "remaining", "budgets", "timezone")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    period: str
    limit: _common_pb2.Money
    spent: _common_pb2.Money
    reserved: _common_pb2.Money
    remaining: _common_pb2.Money
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetLine]
    timezone: str
    def __init__(self, project_id: _Optional[str] = ..., period: _Optional[str] = ..., limit: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., spent: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reserved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., remaining: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., budgets: _Optional[_Iterable[_Union[BudgetLine, _Mapping]]] = ..., timezone: _Optional[str] = ...) -> None: ...

class BudgetLine(_message.Message):
    __slots__ = ("budget_id", "owner", "key_id", "key_name", "period", "period_key", "hard", "limit", "spent", "reserved", "remaining", "resets_at", "alert_at")
    BUDGET_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_KEY_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RESETS_AT_FIELD_NUMBER: _ClassVar[int]
    ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    budget_id: int
    owner: str
    key_id: str
    key_name: str
    period: str
    period_key: str
    hard: bool
    limit: _common_pb2.Money
    spent: _common_pb2.Money
    reserved: _common_pb2.Money
    remaining: _common_pb2.Money
    resets_at: str
    alert_at: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, budget_id: _Optional[int] = ..., owner: _Optional[str] = ..., key_id: _Optional[str] = ..., key_name: _Optional[str] = ..., period: _Optional[str] = ..., period_key: _Optional[str] = ..., hard: _Optional[bool] = ..., limit: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., spent: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reserved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., remaining: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., resets_at: _Optional[str] = ..., alert_at: _Optional[_Iterable[int]] = ...) -> None: ...
