"""The CLI against a remote gateway: `tollgate --url URL ...` (or TOLLGATE_URL) sends an
operator command to the gateway's HTTP admin API with TOLLGATE_ADMIN_TOKEN, instead of
calling Budget and Metering over gRPC.

The commands stay as they are: `rpc.budget` and `metering_rpc.metering` hand them, in
remote mode, a stand-in stub whose methods take the same request messages, send them to
the matching /admin route and give back the same reply messages, rebuilt from the JSON.
The admin API's JSON is the replies as tollgate/protodict.py (Budget) and
tollgate/reports (Metering) show them, so each command prints the same thing either way.
Budget's stand-in is here; Metering's is in remote_metering.py.

Failures are one line: a refused input (400, an unknown name's 404) is a ValueError,
exit status 2; a refused token, a gateway that cannot be reached or does not answer as
one, exit status 1. A command with no admin route says so before it starts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tollgate.v1 import budget_pb2

TIMEOUT_SECONDS = 60.0  # as the gRPC path's: a whole price map is one call
# The commands (command, subcommand) that have an admin route to go to.
SUPPORTED = frozenset(
    {
        ("project", "create"),
        ("project", "list"),
        ("project", "budget"),
        ("key", "create"),
        ("key", "list"),
        ("key", "revoke"),
        ("budget", "set"),
        ("budget", "list"),
        ("price", "set"),
        ("price", "list"),
        ("bill", None),
        ("report", None),
        ("key", "resume"),
        ("alert", "resume"),
        ("alert", "list"),
        ("budget", "delete"),
        ("project", "multiplier"),
        ("limit", "set"),
        ("limit", "list"),
        ("limit", "clear"),
        ("policy", "set"),
        ("policy", "show"),
        ("report", "savings"),
        ("report", "whatif"),
        ("calls", None),
        ("key", "rotate"),
        ("audit", "list"),
    }
)


@dataclass(frozen=True)
class Target:
    """A gateway's address (without /v1) and its admin token."""

    url: str
    token: str


_current: Target | None = None


def current() -> Target | None:
    """The gateway this command runs against; None: the local suite over gRPC."""
    return _current


@contextmanager
def using(target: Target | None) -> Iterator[None]:
    global _current
    _current = target
    try:
        yield
    finally:
        _current = None


def target_of(url: str, token: str) -> Target:
    """The gateway at `url` (http:// or https://; a trailing /v1 is dropped), or a
    ValueError naming what is wrong."""
    base = url.strip().rstrip("/").removesuffix("/v1")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"--url: {url!r} is not an http:// or https:// URL of a gateway")
    if not token:
        raise ValueError(
            "--url needs the gateway's admin token: set TOLLGATE_ADMIN_TOKEN to the "
            "TOLLGATE_ADMIN_TOKEN the gateway runs with"
        )
    return Target(base, token)


def unsupported(command: str, sub: str | None) -> str | None:
    """The line to print when `command sub` has no admin route; None when it has one."""
    if (command, sub) in SUPPORTED:
        return None
    name = f"{command} {sub}" if sub else command
    return (
        f"`tollgate {name}` does not run against a remote gateway (--url); run it "
        "where the suite runs"
    )


def _exit(message: str) -> NoReturn:
    print(f"tollgate: {message}", file=sys.stderr)
    raise SystemExit(1)


def _error_message(reply: Any) -> str:
    try:
        error = reply.json()["error"]
        return str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {reply.status_code}"


def _is_not_found(reply: Any) -> bool:
    try:
        return bool(reply.json()["error"]["code"] == "not_found")
    except (ValueError, KeyError, TypeError):
        return False


def send(
    target: Target,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """The JSON (or, for text/csv, the text) of the admin route's answer; a refusal is a
    ValueError, any other failure one line and exit status 1."""
    import httpx

    where = f"the gateway at {target.url}"
    try:
        reply = httpx.request(
            method,
            f"{target.url}{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.TimeoutException:
        _exit(f"{where} did not answer within {TIMEOUT_SECONDS:.0f} s")
    except httpx.HTTPError as exc:
        _exit(f"{where} is not reachable ({exc.__class__.__name__}: {exc})")
    status = reply.status_code
    if status == 401:
        _exit(f"the admin token was refused by {where}: check TOLLGATE_ADMIN_TOKEN")
    if status == 400 or (status == 404 and _is_not_found(reply)):
        raise ValueError(_error_message(reply))
    if status == 404:
        _exit(f"{where} has no admin API here ({_error_message(reply)})")
    if status >= 300:
        _exit(f"{where} answered {status}: {_error_message(reply)}")
    if reply.headers.get("content-type", "").startswith("text/csv"):
        return reply.text
    try:
        return reply.json()
    except ValueError:
        _exit(f"{where} did not answer as a tollgate gateway (not JSON)")


def from_dict(message: Message, shown: dict[str, Any]) -> Message:
    """Fill `message` from `shown`, the inverse of protodict.as_dict: None leaves a field
    unset, an enum's lower-case name is its value; keys the message lacks are ignored."""
    for field in message.DESCRIPTOR.fields:
        value = shown.get(field.name)
        if value is None:
            continue
        held = getattr(message, field.name)
        if field.is_repeated and field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                held.update(value)
            else:
                for item in value:
                    from_dict(held.add(), item)
        elif field.is_repeated:
            held.extend(_scalar(field, item) for item in value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            held.SetInParent()
            from_dict(held, value)
        else:
            setattr(message, field.name, _scalar(field, value))
    return message


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type != FieldDescriptor.TYPE_ENUM:
        return value
    enum = field.enum_type
    prefix = enum.values[0].name.removesuffix("UNSPECIFIED")
    return enum.values_by_name[prefix + str(value).upper()].number


def _set(message: Message, *names: str) -> dict[str, Any]:
    """The named fields of a request as a JSON body: an unset optional one left out."""
    return {
        name: getattr(message, name)
        for name in names
        if not message.DESCRIPTOR.fields_by_name[name].has_presence or message.HasField(name)
    }


def _part(text: str, safe: str = "") -> str:
    return quote(text, safe=safe)


def _values(fields: Any) -> dict[str, Any]:
    """A request's map of google.protobuf.Value as the JSON the admin API takes."""
    return {name: json_format.MessageToDict(value) for name, value in fields.items()}


def _present(message: Message, **names: str) -> dict[str, str]:
    """Query parameters (parameter=field) of the optional fields that are set."""
    return {param: getattr(message, f) for param, f in names.items() if message.HasField(f)}


class RemoteBudget:
    """Budget's admin RPCs the CLI uses, over the gateway's /admin routes."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        return send(self.target, method, path, **kw)

    def CreateProject(self, request: budget_pb2.CreateProjectRequest, **_: Any) -> Message:
        shown = self._send(
            "POST", "/admin/projects", body=_set(request, "name", "currency", "monthly_budget")
        )
        return from_dict(budget_pb2.Project(), shown)

    def ListProjects(self, request: budget_pb2.ListProjectsRequest, **_: Any) -> Message:
        shown = self._send("GET", "/admin/projects")
        return from_dict(budget_pb2.ListProjectsResponse(), {"projects": shown["data"]})

    def SetMonthlyBudget(self, request: budget_pb2.SetMonthlyBudgetRequest, **_: Any) -> Message:
        amount = request.amount if request.HasField("amount") else None
        shown = self._send(
            "PUT",
            f"/admin/projects/{_part(request.project)}/budget",
            body={"monthly_budget": amount},
        )
        return from_dict(budget_pb2.Project(), shown)

    def CreateKey(self, request: budget_pb2.CreateKeyRequest, **_: Any) -> Message:
        body = {"name": request.name} | _set(request, "expires_at", "expires_in_seconds")
        shown = self._send("POST", f"/admin/projects/{_part(request.project)}/keys", body=body)
        return budget_pb2.CreatedKey(
            key=from_dict(budget_pb2.ApiKey(), shown), secret=shown["secret"]
        )

    def RotateKey(self, request: budget_pb2.RotateKeyRequest, **_: Any) -> Message:
        body = _set(request, "grace_seconds", "expires_at", "expires_in_seconds")
        shown = self._send("POST", f"/admin/keys/{_part(request.key_id)}/rotate", body=body)
        return budget_pb2.RotatedKey(
            key=from_dict(budget_pb2.ApiKey(), shown), secret=shown["secret"]
        )

    def ListAuditEvents(self, request: budget_pb2.ListAuditEventsRequest, **_: Any) -> Message:
        params: dict[str, Any] = _present(
            request, project="project", since="since", until="until", action="action"
        )
        params |= {"limit": str(request.limit or 50)}
        if request.HasField("before_id"):
            params["before_id"] = str(request.before_id)
        shown = self._send("GET", "/admin/audit", params=params)
        return from_dict(
            budget_pb2.ListAuditEventsResponse(),
            {"events": shown["data"], "next_before_id": shown["next_before_id"]},
        )

    def ListKeys(self, request: budget_pb2.ProjectRef, **_: Any) -> Message:
        shown = self._send("GET", f"/admin/projects/{_part(request.project)}/keys")
        return from_dict(budget_pb2.ListKeysResponse(), {"keys": shown["data"]})

    def RevokeKey(self, request: budget_pb2.KeyRef, **_: Any) -> Message:
        shown = self._send("POST", f"/admin/keys/{_part(request.key_id)}/revoke")
        return from_dict(budget_pb2.ApiKey(), shown)

    def SetBudget(self, request: budget_pb2.SetBudgetRequest, **_: Any) -> Message:
        body = _set(request, "project", "key_id", "period", "amount", "hard", "alert_at")
        return from_dict(budget_pb2.BudgetInfo(), self._send("PUT", "/admin/budgets", body=body))

    def ListBudgets(self, request: budget_pb2.ListBudgetsRequest, **_: Any) -> Message:
        params = {"project": request.project} if request.HasField("project") else None
        shown = self._send("GET", "/admin/budgets", params=params)
        return from_dict(budget_pb2.ListBudgetsResponse(), {"budgets": shown["data"]})

    def SetPrice(self, request: budget_pb2.SetPriceRequest, **_: Any) -> Message:
        fields = ("input", "output", "cached_input", "cache_write_input", "currency")
        batch = ("batch_input", "batch_output", "batch_cached_input")
        body = _set(request, *fields, *batch, "max_output_tokens")
        shown = self._send("PUT", f"/admin/prices/{_part(request.model, safe='/')}", body=body)
        return from_dict(budget_pb2.PriceVersion(), shown)

    def ListPrices(self, request: budget_pb2.ListPricesRequest, **_: Any) -> Message:
        shown = self._send("GET", "/admin/prices")
        return from_dict(budget_pb2.ListPricesResponse(), {"prices": shown["data"]})

    def SetPriceMultiplier(
        self, request: budget_pb2.SetPriceMultiplierRequest, **_: Any
    ) -> Message:
        body = {"price_multiplier": request.multiplier}
        shown = self._send("PATCH", f"/admin/projects/{_part(request.project)}", body=body)
        return from_dict(budget_pb2.Project(), shown)

    def ResumeKey(self, request: budget_pb2.KeyRef, **_: Any) -> Message:
        shown = self._send("POST", f"/admin/keys/{_part(request.key_id)}/resume")
        key = from_dict(budget_pb2.ApiKey(), shown)
        return budget_pb2.ResumedKey(key=key, was_paused=shown["was_paused"])

    def DeleteBudget(self, request: budget_pb2.DeleteBudgetRequest, **_: Any) -> Message:
        # No such budget is a 404 whose message is the one the CLI prints for it.
        params = {"project": request.project, "period": request.period}
        params |= _present(request, key_id="key_id")
        shown = self._send("DELETE", "/admin/budgets", params=params)
        return budget_pb2.DeleteBudgetResponse(deleted=shown["deleted"])

    def SetLimits(self, request: budget_pb2.SetLimitsRequest, **_: Any) -> Message:
        body = _set(request, "key_id") | _values(request.limits)
        shown = self._send("PUT", f"/admin/projects/{_part(request.project)}/limits", body=body)
        if shown is None:
            return budget_pb2.SetLimitsResponse()
        return budget_pb2.SetLimitsResponse(limits=from_dict(budget_pb2.RateLimit(), shown))

    def ListLimits(self, request: budget_pb2.ListLimitsRequest, **_: Any) -> Message:
        shown = self._send("GET", "/admin/limits", params=_present(request, project="project"))
        return from_dict(budget_pb2.ListLimitsResponse(), {"limits": shown["data"]})

    def ClearLimits(self, request: budget_pb2.ClearLimitsRequest, **_: Any) -> Message:
        path = f"/admin/projects/{_part(request.project)}/limits"
        shown = self._send("DELETE", path, params=_present(request, key_id="key_id"))
        return budget_pb2.ClearLimitsResponse(cleared=shown["cleared"])

    def GetProjectPolicy(self, request: budget_pb2.ProjectRef, **_: Any) -> Message:
        shown = self._send("GET", f"/admin/projects/{_part(request.project)}/policy")
        return from_dict(budget_pb2.ProjectPolicy(), shown)

    def SetProjectPolicy(self, request: budget_pb2.SetProjectPolicyRequest, **_: Any) -> Message:
        path = f"/admin/projects/{_part(request.project)}/policy"
        shown = self._send("PUT", path, body=_values(request.fields))
        return from_dict(budget_pb2.ProjectPolicy(), shown)

    def GetKeyPolicy(self, request: budget_pb2.KeyRef, **_: Any) -> Message:
        shown = self._send("GET", f"/admin/keys/{_part(request.key_id)}/policy")
        return from_dict(budget_pb2.KeyPolicy(), shown)

    def SetKeyPolicy(self, request: budget_pb2.SetKeyPolicyRequest, **_: Any) -> Message:
        path = f"/admin/keys/{_part(request.key_id)}/policy"
        shown = self._send("PUT", path, body=_values(request.fields))
        return from_dict(budget_pb2.KeyPolicy(), shown)

    def ListAlerts(self, request: budget_pb2.ListAlertsRequest, **_: Any) -> Message:
        params: dict[str, Any] = _present(request, project="project")
        if request.limit:  # 0 is Budget's default, the route's too
            params["limit"] = str(request.limit)
        shown = self._send("GET", "/admin/alerts", params=params)
        return from_dict(budget_pb2.ListAlertsResponse(), {"alerts": shown["data"]})

    def __getattr__(self, name: str) -> Any:
        _exit(f"Budget's {name} has no admin route: it does not run with --url")
