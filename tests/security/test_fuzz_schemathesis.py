"""schemathesis against the live suite: every operation of GET /openapi.json, with
data that fits its schema and data that does not, sent with the project key and
with the admin token. No answer may be a 5xx, none may take 10 s, and afterwards
every service is the same living process and /healthz answers.

Bounded for CI: a fixed number of examples per operation and mode, derandomized,
no shrinking (each failure is recorded and the run goes on, so one run lists every
failing input). `pytest -m fuzz -s` prints the request count and the 5xx count."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup

from services.budget.admin import operations as admin
from services.gateway.dashboard.session import COOKIE
from tests.security.conftest import ADMIN_TOKEN, FUZZ_PROJECT, FuzzTarget, LogWatch, dead_services

pytestmark = [pytest.mark.fuzz, pytest.mark.e2e]

# 64 operations x 2 modes x 2 credentials x this = about 4,000 requests.
EXAMPLES_PER_MODE = 16
REQUEST_SECONDS = 10.0
EXCERPT = 300


# The served description lets `model` be any string and leaves the OpenAI bodies
# open (unknown fields pass through); the run pins the models to the suite's and
# closes the bodies, so generated data spends itself on the fields the gateway reads,
# and pins the path parameters to things that exist (negative data still tries every
# other value): the admin routes' to a project, key and price, the dashboard's to the
# fuzz project, and a stored response's, a file's and a batch's of the fuzz project on
# every read (a DELETE's stays any string, answered 404: a pinned delete would leave
# the reads after it nothing to read). A batch is created from the fuzz project's file.
SUITE_MODELS = {
    "ChatCompletionRequest": "demo",
    "CompletionRequest": "demo",
    "AnthropicMessagesRequest": "demo",
    "EmbeddingRequest": "demo-embedding",
}
CLOSED_BODIES = (*SUITE_MODELS, "ChatMessage")
PLAYGROUND = "fuzz-admin-playground"
PRICED_MODEL = "gpt-4o-mini"  # seeded, and not called by the run
# The credentials each operation is sent with: a dashboard route with a session
# cookie (the operator's and the fuzz project's viewer's), every other with a bearer.
BEARERS = ("project key", "admin token")
SESSIONS = ("operator session", "viewer session")


@dataclass(frozen=True)
class Existing:
    """What the pinned path parameters name."""

    key_id: str
    response_id: str
    file_id: str
    batch_id: str


def _pin(schema: dict[str, Any], value: str) -> None:
    schema.clear()
    schema["enum"] = [value]


def focused(document: dict[str, Any], existing: Existing) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    for name, model in SUITE_MODELS.items():
        schemas[name]["properties"]["model"] = {"enum": [model]}
    for name in CLOSED_BODIES:
        schemas[name]["additionalProperties"] = False
    paths = document["paths"]
    responses = paths["/v1/responses"]["post"]["requestBody"]["content"]["application/json"]
    responses["schema"]["properties"]["model"] = {"enum": ["demo"]}
    batches = paths["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]
    _pin(batches["schema"]["properties"]["input_file_id"], existing.file_id)
    pinned = {
        "key_id": existing.key_id,
        "model": PRICED_MODEL,
        "response_id": existing.response_id,
        "file_id": existing.file_id,
        "batch_id": existing.batch_id,
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["in"] != "path":
                    continue
                if path == "/v1/models/{model}":
                    param["schema"] = {"enum": ["demo"]}
                elif param["name"] == "name":
                    project = FUZZ_PROJECT if path.startswith("/dashboard/") else PLAYGROUND
                    param["schema"] = {"enum": [project]}
                elif param["name"] in pinned and not (
                    method == "delete" and param["name"] != "key_id"
                ):
                    param["schema"] = {"enum": [pinned[param["name"]]]}
    return document


@dataclass
class Run:
    """One fuzz run: where it sends, and what it saw."""

    target: FuzzTarget
    session: requests.Session
    logs: LogWatch
    credentials: dict[str, dict[str, str]]  # name -> the headers it is sent as
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    not_generated: list[str] = field(default_factory=list)
    # operation label and credential -> status classes, to show how deep the run reached
    reach: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def send(self, case: Any, credential: str) -> None:
        where = f"{case.method} {case.formatted_path} [{credential}]"
        sent = f"query {_excerpt(case.query)}, body {_excerpt(case.body)}"
        headers = self.credentials[credential]
        self.sent += 1
        self.logs.mark()
        started = time.monotonic()
        try:
            response = case.call(
                base_url=self.target.root,
                session=self.session,
                headers=headers,
                timeout=REQUEST_SECONDS,
            )
        except requests.RequestException as exc:
            self.failures[f"{where}: no answer ({type(exc).__name__}); {sent}"] += 1
            return
        elapsed = time.monotonic() - started
        self.statuses[response.status_code] += 1
        reach = self.reach.setdefault(f"{case.operation.label} [{credential}]", Counter())
        reach[f"{response.status_code // 100}xx"] += 1
        if elapsed > REQUEST_SECONDS:
            self.failures[f"{where}: took {elapsed:.1f} s; {sent}"] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
        except FailureGroup:
            logged = "; ".join(self.logs.errors()) or "nothing logged"
            self.failures[f"{where} -> {response.status_code}; {sent} | {logged}"] += 1

    def fuzz(self, operation: Any, mode: GenerationMode) -> None:
        @settings(
            max_examples=EXAMPLES_PER_MODE,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            for credential in credentials:
                self.send(case, credential)

        path = operation.path
        # Signing out would end the run's sessions: it is sent with none.
        credentials = BEARERS if not path.startswith("/dashboard/") else SESSIONS
        if path == "/dashboard/api/signout":
            credentials = ("no session",)

        try:
            run()
        except Unsatisfiable:
            self.not_generated.append(f"{operation.label} ({mode.value})")


def _excerpt(value: Any) -> str:
    if isinstance(value, NotSet):
        return "-"
    if isinstance(value, dict):  # the scalar fields first: they are what the gateway reads
        value = dict(sorted(value.items(), key=lambda item: isinstance(item[1], dict | list)))
    if value is None or isinstance(value, bytes | str):
        text = repr(value)
    else:
        text = json.dumps(value, default=repr)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def _existing(target: FuzzTarget, key_id: str) -> Existing:
    """A stored response, a batch input file and a batch of it, of the fuzz project."""
    line = {"custom_id": "fuzz", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip
    auth = {"Authorization": f"Bearer {target.secret}"}
    with httpx.Client(base_url=target.root, headers=auth, timeout=30) as http:
        response = http.post("/v1/responses", json={"model": "demo", "input": "hi"})
        uploaded = http.post(
            "/v1/files",
            files={"file": ("fuzz.jsonl", json.dumps(line).encode() + b"\n")},
            data={"purpose": "batch"},
        )
        assert uploaded.status_code == 200, uploaded.text
        batch = http.post(
            "/v1/batches",
            json={"input_file_id": uploaded.json()["id"], "endpoint": line["url"],
                  "completion_window": "24h"},
        )  # fmt: skip
        assert (response.status_code, batch.status_code) == (200, 200), (response, batch)
    return Existing(key_id, response.json()["id"], uploaded.json()["id"], batch.json()["id"])


def _sessions(target: FuzzTarget) -> dict[str, dict[str, str]]:
    found = {"no session": {}}
    with httpx.Client(base_url=target.root, timeout=30) as http:
        for name, token in (("operator session", ADMIN_TOKEN), ("viewer session", target.secret)):
            signed = http.post("/dashboard/api/signin", json={"token": token})
            assert signed.status_code == 200, signed.text
            found[name] = {"Cookie": f"{COOKIE}={signed.cookies[COOKIE]}"}
    return found


def test_every_operation_answers_below_500_with_either_credential(fuzz_target: FuzzTarget) -> None:
    admin.create_project(fuzz_target.suite.engine, PLAYGROUND)
    playground_key = admin.create_key(fuzz_target.suite.engine, PLAYGROUND).info.id
    existing = _existing(fuzz_target, playground_key)
    credentials = {
        "project key": {"Authorization": f"Bearer {fuzz_target.secret}"},
        "admin token": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        **_sessions(fuzz_target),
    }
    served = httpx.get(f"{fuzz_target.root}/openapi.json", timeout=10)
    assert served.status_code == 200
    schema = schemathesis.openapi.from_dict(focused(served.json(), existing))
    operations = [result.ok() for result in schema.get_all_operations()]
    started = time.monotonic()
    with requests.Session() as session:
        run = Run(fuzz_target, session, LogWatch(fuzz_target.suite), credentials)
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run.fuzz(operation, mode)
    seconds = time.monotonic() - started
    dead = dead_services(fuzz_target)
    print(
        f"\nschemathesis: {run.sent} requests to {len(operations)} operations in "
        f"{seconds:.0f} s, {run.server_errors} answered 5xx, "
        f"{sum(run.failures.values())} failed checks ({len(run.failures)} distinct); "
        f"statuses {dict(sorted(run.statuses.items()))}; dead services: {dead or 'none'}"
    )
    for where, classes in sorted(run.reach.items()):
        print(f"  {where}: {dict(sorted(classes.items()))}")
    if run.not_generated:
        print("no data could be generated for: " + ", ".join(run.not_generated))
    problems = [f"{n} x {failure}" for failure, n in run.failures.items()]
    problems += [f"service down after the run: {name}" for name in dead]
    assert not problems, "\n".join(problems)
