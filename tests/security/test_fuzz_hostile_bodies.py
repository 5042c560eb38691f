"""Hostile bodies at every front door, with a valid key, over one keep-alive connection.

Every answer must be below 500, and a 4xx must be OpenAI's error JSON (Anthropic's
on /v1/messages and /v1/messages/count_tokens); after a 4xx the same connection must
carry the next request (unless the server said `Connection: close`); no request may
take 10 s. Afterwards the ledger bills exactly the served calls: every 2xx of a
billed door has its row, and no refused call has a row that bills anything (a
failed upstream call may leave a zero-cost row). Every service must outlive the run.

The systematic cases (`hostile.every_hostile_body`) are all sent; the random ones
come from a derandomized hypothesis strategy, without shrinking: each failure is
recorded and the run goes on, so one run lists every failing input."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import select

from tests.security.conftest import (
    ADMIN_TOKEN,
    FUZZ_PROJECT,
    FuzzTarget,
    LogWatch,
    dead_services,
)
from tests.security.hostile import DOORS, HostileBody, every_hostile_body, hostile_bodies
from tests.security.hostile_queries import hostile_reads
from tests.security.hostile_uploads import hostile_uploads
from tests.security.tenant_doors import dashboard_session
from tests.security.tenants import gateway_routes, unreached
from tollgate.db.models import LedgerEntry

pytestmark = [pytest.mark.fuzz, pytest.mark.e2e]

RANDOM_EXAMPLES = 200
REQUEST_SECONDS = 10.0
LEDGER_WAIT_SECONDS = 30.0
OPENAI_ERROR_FIELDS = {"message", "type", "param", "code"}


@dataclass
class Prober:
    """Sends hostile bodies over one client and keeps what the checks need."""

    target: FuzzTarget
    http: httpx.Client
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    served: set[str] = field(default_factory=set)  # request ids of 2xx answers, billed doors
    refused: set[str] = field(default_factory=set)  # request ids of 4xx answers
    last_port: int | None = None  # local port of the connection a 4xx was answered on
    after_server_error: bool = False
    logs: LogWatch = field(init=False)

    def __post_init__(self) -> None:
        self.logs = LogWatch(self.target.suite)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def send(self, case: HostileBody) -> None:
        where = f"POST {case.door.path} {case.label}"
        self.sent += 1
        self.logs.mark()
        started = time.monotonic()
        try:
            response, port = self._post(case)
        except httpx.TransportError as exc:
            if not self.after_server_error:
                self.failures.append(f"{where}: no answer ({type(exc).__name__}: {exc})")
                self.last_port = None
                return
            # A 5xx closed its connection without saying so; that 5xx is reported, so
            # ask again on a new connection to learn this input's own answer.
            self.last_port = None
            self.logs.mark()
            try:
                response, port = self._post(case)
            except httpx.TransportError as again:
                self.failures.append(f"{where}: no answer ({type(again).__name__}: {again})")
                return
        elapsed = time.monotonic() - started
        status = response.status_code
        self.statuses[status] += 1
        self.after_server_error = status >= 500
        if self.last_port is not None and port != self.last_port:
            self.failures.append(f"{where}: a new connection after the previous 4xx")
        self.last_port = None
        if elapsed > REQUEST_SECONDS:
            self.failures.append(f"{where}: took {elapsed:.1f} s")
        request_id = response.headers.get("x-request-id", "")
        if status >= 500:
            logged = "; ".join(self.logs.errors()) or "nothing logged"
            self.failures.append(f"{where} -> {status} | {logged}")
        elif status >= 400:
            self.refused.add(request_id)
            problem = error_format_problem(response, anthropic=case.door.anthropic)
            if problem:
                self.failures.append(f"{where} -> {status}: {problem}")
            if response.headers.get("connection", "").lower() != "close":
                self.last_port = port
        elif case.door.billed:
            self.served.add(request_id)

    def _post(self, case: HostileBody) -> tuple[httpx.Response, int | None]:
        """The answer, read whole, and the local port of the connection it came on."""
        with self.http.stream("POST", case.door.path, content=case.body) as response:
            stream = response.extensions.get("network_stream")
            port = stream.get_extra_info("client_addr")[1] if stream else None
            response.read()
        return response, port


def error_format_problem(response: httpx.Response, *, anthropic: bool) -> str | None:
    """Why a 4xx answer is not in the door's error format, or None."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"not JSON: {response.text[:120]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"no error object: {response.text[:120]!r}"
    if anthropic:
        if body.get("type") != "error" or not all(
            isinstance(error.get(k), str) for k in ("type", "message")
        ):
            return f"not Anthropic's error format: {response.text[:120]!r}"
    elif set(error) != OPENAI_ERROR_FIELDS or not isinstance(error["message"], str):
        return f"not OpenAI's error format: {response.text[:120]!r}"
    return None


@pytest.fixture(scope="module")
def prober(fuzz_target: FuzzTarget) -> Iterator[Prober]:
    headers = {"Authorization": f"Bearer {fuzz_target.secret}", "Content-Type": "application/json"}
    with httpx.Client(base_url=fuzz_target.root, headers=headers, timeout=REQUEST_SECONDS) as http:
        yield Prober(fuzz_target, http)


def _report(prober: Prober, what: str, sent_before: int, started: float) -> None:
    print(
        f"\nhostile bodies ({what}): {prober.sent - sent_before} requests in "
        f"{time.monotonic() - started:.0f} s; {prober.server_errors} answered 5xx and "
        f"{len(prober.failures)} failed checks so far; "
        f"statuses so far {dict(sorted(prober.statuses.items()))}"
    )


def _assert_no_failures(prober: Prober) -> None:
    failures, prober.failures = prober.failures, []
    assert not failures, "\n".join(failures)


def called(request_id: str) -> str:
    """The request id of the call a ledger row bills: a completions request's prompt
    i > 0 is recorded as `<request id>-<i>`."""
    stem, _, index = request_id.rpartition("-")
    return stem if stem and index.isdigit() else request_id


def test_every_hostile_value_in_every_field_gets_a_4xx_in_the_door_format(prober: Prober) -> None:
    sent_before, started = prober.sent, time.monotonic()
    for case in every_hostile_body():
        prober.send(case)
    _report(prober, "systematic", sent_before, started)
    _assert_no_failures(prober)


def test_random_hostile_bodies_get_a_4xx_in_the_door_format(prober: Prober) -> None:
    sent_before, started = prober.sent, time.monotonic()

    @settings(
        max_examples=RANDOM_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=hostile_bodies())
    def run(case: HostileBody) -> None:
        prober.send(case)

    run()
    _report(prober, "random", sent_before, started)
    _assert_no_failures(prober)


def test_every_hostile_upload_is_refused_in_openai_format_and_stores_nothing(
    prober: Prober,
) -> None:
    auth = {"Authorization": f"Bearer {prober.target.secret}"}  # and no Content-Type
    http = httpx.Client(base_url=prober.target.root, headers=auth, timeout=REQUEST_SECONDS)
    failures: list[str] = []
    for upload in hostile_uploads():
        prober.logs.mark()
        headers = {"Content-Type": upload.content_type} if upload.content_type else {}
        try:
            reply = http.post("/v1/files", content=upload.body, headers=headers)
        except httpx.TransportError as exc:
            failures.append(f"{upload.label}: no answer ({type(exc).__name__}: {exc})")
            continue
        prober.statuses[reply.status_code] += 1
        problem = error_format_problem(reply, anthropic=False)
        if reply.status_code != upload.status or problem:
            logged = "; ".join(prober.logs.errors()) or "nothing logged"
            failures.append(
                f"{upload.label} -> {reply.status_code} (wanted {upload.status}): "
                f"{problem or reply.text[:200]} | {logged}"
            )
        elif upload.param is not None and reply.json()["error"]["param"] != upload.param:
            failures.append(f"{upload.label}: names {reply.json()['error']['param']!r}")
    stored = http.get("/v1/files")
    http.close()
    assert stored.status_code == 200, stored.text
    failures += [f"stored: {f['filename']!r} ({f['bytes']} bytes)" for f in stored.json()["data"]]
    assert not failures, "\n".join(failures)


def test_every_hostile_query_parameter_gets_a_4xx_in_openai_format(prober: Prober) -> None:
    target, failures = prober.target, []
    with httpx.Client(base_url=target.root, timeout=REQUEST_SECONDS) as http:
        key = {"Authorization": f"Bearer {target.secret}"}
        stored = http.post("/v1/responses", json={"model": "demo", "input": "hi"}, headers=key)
        assert stored.status_code == 200, stored.text
        prober.served.add(stored.headers["x-request-id"])
        credentials = {
            "key": key,
            "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            "viewer": dashboard_session(http, target.secret),
            "operator": dashboard_session(http, ADMIN_TOKEN),
        }
        for read, label, path in hostile_reads():
            path = path.format(response=stored.json()["id"], project=FUZZ_PROJECT)
            where = f"GET {read.path} [{read.credential}] {label}"
            prober.logs.mark()
            try:
                reply = http.get(path, headers=credentials[read.credential])
            except httpx.TransportError as exc:  # e.g. after a 500 closed the connection
                failures.append(f"{where}: no answer ({type(exc).__name__})")
                continue
            prober.statuses[reply.status_code] += 1
            if reply.status_code >= 500:
                logged = "; ".join(prober.logs.errors()) or "nothing logged"
                failures.append(f"{where} -> {reply.status_code} | {logged}")
            elif reply.status_code >= 400 and (
                problem := error_format_problem(reply, anthropic=False)
            ):
                failures.append(f"{where} -> {reply.status_code}: {problem}")
    assert not failures, "\n".join(failures)


# POST routes that read no body, and body routes whose hostile input is tested
# elsewhere: the admin API's in tests/gateway/test_admin_input.py (every field of
# every admin body), the dashboard's sign-in in tests/gateway/test_dashboard_auth.py
# (its hold-off would answer 429s here).
NO_BODY = ("/v1/batches/{batch_id}/cancel", "/dashboard/api/signout")
BODIES_TESTED_ELSEWHERE = ("/admin/", "/dashboard/api/signin", *NO_BODY)


def test_every_body_route_of_the_gateway_gets_hostile_bodies() -> None:
    sent = [("POST", door.path) for door in DOORS] + [("POST", "/v1/files")]
    exempt = {
        (method, route.path)
        for route in gateway_routes()
        for method in route.methods or ()
        if method not in ("POST", "PUT", "PATCH") or route.path.startswith(BODIES_TESTED_ELSEWHERE)
    }
    assert unreached(sent, exempt) == [], (
        "body routes without hostile bodies (tests/security/hostile.py)"
    )


def test_the_ledger_bills_the_served_calls_only_and_every_service_survived(
    prober: Prober,
) -> None:
    target = prober.target
    deadline = time.monotonic() + LEDGER_WAIT_SECONDS
    while True:
        with target.suite.engine.connect() as conn:
            rows = conn.execute(
                select(
                    LedgerEntry.request_id,
                    LedgerEntry.prompt_tokens,
                    LedgerEntry.completion_tokens,
                    LedgerEntry.cost_nano,
                ).where(LedgerEntry.project_id == target.project_id)
            ).all()
        recorded = {called(row.request_id) for row in rows}
        if prober.served <= recorded or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    billing = {
        called(row.request_id)
        for row in rows
        if row.cost_nano or row.prompt_tokens or row.completion_tokens
    }
    print(
        f"\nledger: {len(rows)} rows, {len(billing)} billing; {len(prober.served)} served "
        f"(2xx on billed doors), {len(prober.refused)} refused; {prober.sent} requests in all"
    )
    problems = [f"served but not in the ledger: {r}" for r in sorted(prober.served - recorded)]
    problems += [f"refused but billed: {r}" for r in sorted(billing & prober.refused)]
    problems += [f"billed but never answered 2xx: {r}" for r in sorted(billing - prober.served)]
    problems += [f"service down after the run: {name}" for name in dead_services(target)]
    assert not problems, "\n".join(problems)
