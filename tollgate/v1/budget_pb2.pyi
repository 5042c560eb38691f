from google.protobuf import struct_pb2 as _struct_pb2
from tollgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATUS_UNSPECIFIED: _ClassVar[KeyStatus]
    KEY_STATUS_ACTIVE: _ClassVar[KeyStatus]
    KEY_STATUS_PAUSED: _ClassVar[KeyStatus]
    KEY_STATUS_REVOKED: _ClassVar[KeyStatus]
    KEY_STATUS_EXPIRED: _ClassVar[KeyStatus]
KEY_STATUS_UNSPECIFIED: KeyStatus
KEY_STATUS_ACTIVE: KeyStatus
KEY_STATUS_PAUSED: KeyStatus
KEY_STATUS_REVOKED: KeyStatus
KEY_STATUS_EXPIRED: KeyStatus

class AuthorizeRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "prompt_tokens_estimate", "max_completion_tokens", "choices", "downgrade_model", "candidate_models", "downgrade_candidate_models", "batch_id", "hold_seconds")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    MAX_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_MODELS_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_CANDIDATE_MODELS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    prompt_tokens_estimate: int
    max_completion_tokens: int
    choices: int
    downgrade_model: str
    candidate_models: _containers.RepeatedScalarFieldContainer[str]
    downgrade_candidate_models: _containers.RepeatedScalarFieldContainer[str]
    batch_id: str
    hold_seconds: int
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., prompt_tokens_estimate: _Optional[int] = ..., max_completion_tokens: _Optional[int] = ..., choices: _Optional[int] = ..., downgrade_model: _Optional[str] = ..., candidate_models: _Optional[_Iterable[str]] = ..., downgrade_candidate_models: _Optional[_Iterable[str]] = ..., batch_id: _Optional[str] = ..., hold_seconds: _Optional[int] = ...) -> None: ...

class AuthorizeBatchRequest(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[AuthorizeRequest]
    def __init__(self, calls: _Optional[_Iterable[_Union[AuthorizeRequest, _Mapping]]] = ...) -> None: ...

class AuthorizeBatchResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[AuthorizeOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[AuthorizeOutcome, _Mapping]]] = ...) -> None: ...

class AuthorizeOutcome(_message.Message):
    __slots__ = ("response", "code", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: AuthorizeResponse
    code: int
    error: str
    def __init__(self, response: _Optional[_Union[AuthorizeResponse, _Mapping]] = ..., code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("decision", "reserved", "message", "reuse_ms")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[AuthorizeResponse.Decision]
        ALLOWED: _ClassVar[AuthorizeResponse.Decision]
        BUDGET_EXCEEDED: _ClassVar[AuthorizeResponse.Decision]
        KEY_REVOKED: _ClassVar[AuthorizeResponse.Decision]
        MODEL_NOT_PRICED: _ClassVar[AuthorizeResponse.Decision]
        KEY_PAUSED: _ClassVar[AuthorizeResponse.Decision]
        DOWNGRADED: _ClassVar[AuthorizeResponse.Decision]
        KEY_EXPIRED: _ClassVar[AuthorizeResponse.Decision]
    DECISION_UNSPECIFIED: AuthorizeResponse.Decision
    ALLOWED: AuthorizeResponse.Decision
    BUDGET_EXCEEDED: AuthorizeResponse.Decision
    KEY_REVOKED: AuthorizeResponse.Decision
    MODEL_NOT_PRICED: AuthorizeResponse.Decision
    KEY_PAUSED: AuthorizeResponse.Decision
    DOWNGRADED: AuthorizeResponse.Decision
    KEY_EXPIRED: AuthorizeResponse.Decision
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REUSE_MS_FIELD_NUMBER: _ClassVar[int]
    decision: AuthorizeResponse.Decision
    reserved: _common_pb2.Money
    message: str
    reuse_ms: int
    def __init__(self, decision: _Optional[_Union[AuthorizeResponse.Decision, str]] = ..., reserved: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., message: _Optional[str] = ..., reuse_ms: _Optional[int] = ...) -> None: ...

class SettleRequest(_message.Message):
    __slots__ = ("request_id", "caller", "model", "usage", "started_at_unix_ms", "cost_fraction", "reference_model", "reference_usage", "batch_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    COST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: _common_pb2.Caller
    model: str
    usage: _common_pb2.Usage
    started_at_unix_ms: int
    cost_fraction: str
    reference_model: str
    reference_usage: _common_pb2.Usage
    batch_id: str
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., started_at_unix_ms: _Optional[int] = ..., cost_fraction: _Optional[str] = ..., reference_model: _Optional[str] = ..., reference_usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., batch_id: _Optional[str] = ...) -> None: ...

class SettleResponse(_message.Message):
    __slots__ = ("cost", "already_settled", "reference_cost")
    COST_FIELD_NUMBER: _ClassVar[int]
    ALREADY_SETTLED_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COST_FIELD_NUMBER: _ClassVar[int]
    cost: _common_pb2.Money
    already_settled: bool
    reference_cost: _common_pb2.Money
    def __init__(self, cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., already_settled: _Optional[bool] = ..., reference_cost: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class SettleBatchRequest(_message.Message):
    __slots__ = ("settles",)
    SETTLES_FIELD_NUMBER: _ClassVar[int]
    settles: _containers.RepeatedCompositeFieldContainer[SettleRequest]
    def __init__(self, settles: _Optional[_Iterable[_Union[SettleRequest, _Mapping]]] = ...) -> None: ...

class SettleBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SettleResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SettleResponse, _Mapping]]] = ...) -> None: ...

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

class OperatorAlertRequest(_message.Message):
    __slots__ = ("subject", "project_id", "message")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    project_id: str
    message: str
    def __init__(self, subject: _Optional[str] = ..., project_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class OperatorAlertResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    def __init__(self, recorded: _Optional[bool] = ...) -> None: ...

class GetPricesRequest(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelPrice(_message.Message):
    __slots__ = ("model", "currency", "input", "output", "cached_input", "cache_write_input")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_FIELD_NUMBER: _ClassVar[int]
    model: str
    currency: str
    input: str
    output: str
    cached_input: str
    cache_write_input: str
    def __init__(self, model: _Optional[str] = ..., currency: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., cached_input: _Optional[str] = ..., cache_write_input: _Optional[str] = ...) -> None: ...

class GetPricesResponse(_message.Message):
    __slots__ = ("prices", "usd_to_cny")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    USD_TO_CNY_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[ModelPrice]
    usd_to_cny: str
    def __init__(self, prices: _Optional[_Iterable[_Union[ModelPrice, _Mapping]]] = ..., usd_to_cny: _Optional[str] = ...) -> None: ...

class ProjectRef(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class KeyRef(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class Project(_message.Message):
    __slots__ = ("id", "name", "currency", "monthly_budget", "created_at", "price_multiplier")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PRICE_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    currency: str
    monthly_budget: str
    created_at: str
    price_multiplier: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., currency: _Optional[str] = ..., monthly_budget: _Optional[str] = ..., created_at: _Optional[str] = ..., price_multiplier: _Optional[str] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("name", "currency", "monthly_budget")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    currency: str
    monthly_budget: str
    def __init__(self, name: _Optional[str] = ..., currency: _Optional[str] = ..., monthly_budget: _Optional[str] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects",)
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ...) -> None: ...

class SetMonthlyBudgetRequest(_message.Message):
    __slots__ = ("project", "amount")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    project: str
    amount: str
    def __init__(self, project: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class SetPriceMultiplierRequest(_message.Message):
    __slots__ = ("project", "multiplier")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    project: str
    multiplier: str
    def __init__(self, project: _Optional[str] = ..., multiplier: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "project_id", "name", "prefix", "created_at", "revoked_at", "paused_at", "status", "expires_at", "rotated_at", "previous_expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ROTATED_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    prefix: str
    created_at: str
    revoked_at: str
    paused_at: str
    status: KeyStatus
    expires_at: str
    rotated_at: str
    previous_expires_at: str
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ..., created_at: _Optional[str] = ..., revoked_at: _Optional[str] = ..., paused_at: _Optional[str] = ..., status: _Optional[_Union[KeyStatus, str]] = ..., expires_at: _Optional[str] = ..., rotated_at: _Optional[str] = ..., previous_expires_at: _Optional[str] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("project", "name", "expires_at", "expires_in_seconds")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    name: str
    expires_at: str
    expires_in_seconds: int
    def __init__(self, project: _Optional[str] = ..., name: _Optional[str] = ..., expires_at: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("key_id", "grace_seconds", "expires_at", "expires_in_seconds")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    grace_seconds: int
    expires_at: str
    expires_in_seconds: int
    def __init__(self, key_id: _Optional[str] = ..., grace_seconds: _Optional[int] = ..., expires_at: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class RotatedKey(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    secret: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("project", "since", "until", "action", "limit", "before_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    since: str
    until: str
    action: str
    limit: int
    before_id: int
    def __init__(self, project: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., action: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "at", "actor", "action", "target_kind", "target", "project_id", "project", "before", "after")
    ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_KIND_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    id: int
    at: str
    actor: str
    action: str
    target_kind: str
    target: str
    project_id: str
    project: str
    before: str
    after: str
    def __init__(self, id: _Optional[int] = ..., at: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target_kind: _Optional[str] = ..., target: _Optional[str] = ..., project_id: _Optional[str] = ..., project: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_before_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_before_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_before_id: _Optional[int] = ...) -> None: ...

class CreatedKey(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    secret: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class ResumedKey(_message.Message):
    __slots__ = ("key", "was_paused")
    KEY_FIELD_NUMBER: _ClassVar[int]
    WAS_PAUSED_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    was_paused: bool
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., was_paused: _Optional[bool] = ...) -> None: ...

class BudgetInfo(_message.Message):
    __slots__ = ("project", "owner", "key_id", "key_name", "period", "period_key", "hard", "currency", "amount", "spent", "reserved", "remaining", "alert_at", "resets", "resets_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_KEY_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    RESETS_FIELD_NUMBER: _ClassVar[int]
    RESETS_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    owner: str
    key_id: str
    key_name: str
    period: str
    period_key: str
    hard: bool
    currency: str
    amount: str
    spent: str
    reserved: str
    remaining: str
    alert_at: _containers.RepeatedScalarFieldContainer[int]
    resets: str
    resets_at: str
    def __init__(self, project: _Optional[str] = ..., owner: _Optional[str] = ..., key_id: _Optional[str] = ..., key_name: _Optional[str] = ..., period: _Optional[str] = ..., period_key: _Optional[str] = ..., hard: _Optional[bool] = ..., currency: _Optional[str] = ..., amount: _Optional[str] = ..., spent: _Optional[str] = ..., reserved: _Optional[str] = ..., remaining: _Optional[str] = ..., alert_at: _Optional[_Iterable[int]] = ..., resets: _Optional[str] = ..., resets_at: _Optional[str] = ...) -> None: ...

class SetBudgetRequest(_message.Message):
    __slots__ = ("project", "key_id", "period", "amount", "hard", "alert_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    ALERT_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    key_id: str
    period: str
    amount: str
    hard: bool
    alert_at: str
    def __init__(self, project: _Optional[str] = ..., key_id: _Optional[str] = ..., period: _Optional[str] = ..., amount: _Optional[str] = ..., hard: _Optional[bool] = ..., alert_at: _Optional[str] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetInfo]
    def __init__(self, budgets: _Optional[_Iterable[_Union[BudgetInfo, _Mapping]]] = ...) -> None: ...

class DeleteBudgetRequest(_message.Message):
    __slots__ = ("project", "key_id", "period")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    project: str
    key_id: str
    period: str
    def __init__(self, project: _Optional[str] = ..., key_id: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class DeleteBudgetResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class PriceVersion(_message.Message):
    __slots__ = ("model", "currency", "input", "output", "cached_input", "cache_write_input", "max_output_tokens", "batch_input", "batch_output", "batch_cached_input", "batch_default")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BATCH_INPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    model: str
    currency: str
    input: str
    output: str
    cached_input: str
    cache_write_input: str
    max_output_tokens: int
    batch_input: str
    batch_output: str
    batch_cached_input: str
    batch_default: bool
    def __init__(self, model: _Optional[str] = ..., currency: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., cached_input: _Optional[str] = ..., cache_write_input: _Optional[str] = ..., max_output_tokens: _Optional[int] = ..., batch_input: _Optional[str] = ..., batch_output: _Optional[str] = ..., batch_cached_input: _Optional[str] = ..., batch_default: _Optional[bool] = ...) -> None: ...

class SetPriceRequest(_message.Message):
    __slots__ = ("model", "input", "output", "cached_input", "currency", "max_output_tokens", "cache_write_input", "batch_input", "batch_output", "batch_cached_input")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_INPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_CACHED_INPUT_FIELD_NUMBER: _ClassVar[int]
    model: str
    input: str
    output: str
    cached_input: str
    currency: str
    max_output_tokens: int
    cache_write_input: str
    batch_input: str
    batch_output: str
    batch_cached_input: str
    def __init__(self, model: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., cached_input: _Optional[str] = ..., currency: _Optional[str] = ..., max_output_tokens: _Optional[int] = ..., cache_write_input: _Optional[str] = ..., batch_input: _Optional[str] = ..., batch_output: _Optional[str] = ..., batch_cached_input: _Optional[str] = ...) -> None: ...

class ListPricesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPricesResponse(_message.Message):
    __slots__ = ("prices",)
    PRICES_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[PriceVersion]
    def __init__(self, prices: _Optional[_Iterable[_Union[PriceVersion, _Mapping]]] = ...) -> None: ...

class ImportPricesRequest(_message.Message):
    __slots__ = ("price_map", "providers", "dry_run")
    PRICE_MAP_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    price_map: bytes
    providers: _containers.RepeatedScalarFieldContainer[str]
    dry_run: bool
    def __init__(self, price_map: _Optional[bytes] = ..., providers: _Optional[_Iterable[str]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class PriceChange(_message.Message):
    __slots__ = ("after", "before")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    after: PriceVersion
    before: PriceVersion
    def __init__(self, after: _Optional[_Union[PriceVersion, _Mapping]] = ..., before: _Optional[_Union[PriceVersion, _Mapping]] = ...) -> None: ...

class ImportPricesResponse(_message.Message):
    __slots__ = ("changes", "unchanged", "skipped")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[PriceChange]
    unchanged: int
    skipped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, changes: _Optional[_Iterable[_Union[PriceChange, _Mapping]]] = ..., unchanged: _Optional[int] = ..., skipped: _Optional[_Iterable[str]] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("project", "project_id", "key_id", "rpm", "tpm", "max_concurrent", "updated_at", "owner")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    project: str
    project_id: str
    key_id: str
    rpm: int
    tpm: int
    max_concurrent: int
    updated_at: str
    owner: str
    def __init__(self, project: _Optional[str] = ..., project_id: _Optional[str] = ..., key_id: _Optional[str] = ..., rpm: _Optional[int] = ..., tpm: _Optional[int] = ..., max_concurrent: _Optional[int] = ..., updated_at: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...

class SetLimitsRequest(_message.Message):
    __slots__ = ("project", "key_id", "limits")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    project: str
    key_id: str
    limits: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, project: _Optional[str] = ..., key_id: _Optional[str] = ..., limits: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class SetLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: RateLimit
    def __init__(self, limits: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...

class ListLimitsRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class ListLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    def __init__(self, limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ...) -> None: ...

class ClearLimitsRequest(_message.Message):
    __slots__ = ("project", "key_id")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    project: str
    key_id: str
    def __init__(self, project: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class ClearLimitsResponse(_message.Message):
    __slots__ = ("cleared",)
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    def __init__(self, cleared: _Optional[bool] = ...) -> None: ...

class AlertDelivery(_message.Message):
    __slots__ = ("webhook", "attempt", "status_code", "error", "attempted_at", "delivered")
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTED_AT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    webhook: str
    attempt: int
    status_code: int
    error: str
    attempted_at: str
    delivered: bool
    def __init__(self, webhook: _Optional[str] = ..., attempt: _Optional[int] = ..., status_code: _Optional[int] = ..., error: _Optional[str] = ..., attempted_at: _Optional[str] = ..., delivered: _Optional[bool] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("id", "kind", "project", "key_id", "budget_id", "period", "period_key", "threshold", "amount", "limit", "currency", "message", "created_at", "state", "attempts")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGET_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_KEY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    project: str
    key_id: str
    budget_id: int
    period: str
    period_key: str
    threshold: int
    amount: str
    limit: str
    currency: str
    message: str
    created_at: str
    state: str
    attempts: _containers.RepeatedCompositeFieldContainer[AlertDelivery]
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., project: _Optional[str] = ..., key_id: _Optional[str] = ..., budget_id: _Optional[int] = ..., period: _Optional[str] = ..., period_key: _Optional[str] = ..., threshold: _Optional[int] = ..., amount: _Optional[str] = ..., limit: _Optional[str] = ..., currency: _Optional[str] = ..., message: _Optional[str] = ..., created_at: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[AlertDelivery, _Mapping]]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("project", "limit")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    project: str
    limit: int
    def __init__(self, project: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[AlertEvent]
    def __init__(self, alerts: _Optional[_Iterable[_Union[AlertEvent, _Mapping]]] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ("webhook", "format", "target", "project")
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    webhook: str
    format: str
    target: str
    project: str
    def __init__(self, webhook: _Optional[str] = ..., format: _Optional[str] = ..., target: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks",)
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ...) -> None: ...

class TestAlertRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class TestAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: AlertEvent
    def __init__(self, alert: _Optional[_Union[AlertEvent, _Mapping]] = ...) -> None: ...

class ProjectPolicy(_message.Message):
    __slots__ = ("project", "project_id", "allowed_models", "preferred_models", "max_tokens", "max_prompt_tokens", "compact", "priority", "downgrade_at_percent", "downgrade_on_forecast", "updated_at")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_MODELS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_AT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_ON_FORECAST_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    project: str
    project_id: str
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    preferred_models: _containers.RepeatedScalarFieldContainer[str]
    max_tokens: int
    max_prompt_tokens: int
    compact: bool
    priority: str
    downgrade_at_percent: int
    downgrade_on_forecast: bool
    updated_at: str
    def __init__(self, project: _Optional[str] = ..., project_id: _Optional[str] = ..., allowed_models: _Optional[_Iterable[str]] = ..., preferred_models: _Optional[_Iterable[str]] = ..., max_tokens: _Optional[int] = ..., max_prompt_tokens: _Optional[int] = ..., compact: _Optional[bool] = ..., priority: _Optional[str] = ..., downgrade_at_percent: _Optional[int] = ..., downgrade_on_forecast: _Optional[bool] = ..., updated_at: _Optional[str] = ...) -> None: ...

class KeyPolicy(_message.Message):
    __slots__ = ("key_id", "project_id", "allowed_models", "priority", "updated_at")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    project_id: str
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    priority: str
    updated_at: str
    def __init__(self, key_id: _Optional[str] = ..., project_id: _Optional[str] = ..., allowed_models: _Optional[_Iterable[str]] = ..., priority: _Optional[str] = ..., updated_at: _Optional[str] = ...) -> None: ...

class SetProjectPolicyRequest(_message.Message):
    __slots__ = ("project", "fields")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    project: str
    fields: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, project: _Optional[str] = ..., fields: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...

class SetKeyPolicyRequest(_message.Message):
    __slots__ = ("key_id", "fields")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Value
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    fields: _containers.MessageMap[str, _struct_pb2.Value]
    def __init__(self, key_id: _Optional[str] = ..., fields: _Optional[_Mapping[str, _struct_pb2.Value]] = ...) -> None: ...
