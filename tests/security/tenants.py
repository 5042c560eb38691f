"""Two tenants of one running suite, for the tenant probes (test_tenant_probes.py):
B, the victim, with something behind every front door, and A, the prober; what of
B's must never reach A (`World.needles`), and how one probe is judged (`probe`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from starlette.routing import Route

from services.gateway.app import create_app
from tests.e2e.suite import Suite
from tollgate.db.models import RESERVATIONS, LedgerEntry

ADMIN_TOKEN = "tenant-probe-admin-token-0123456789"
B_USER = "bravo-end-user-7f3a9c"
B_PROMPT = "bravo-private-prompt-5e21d0"  # only in B's stored response and B's file
B_CUSTOM_ID = "bravo-custom-id-93ab17"  # a line of B's batch file
LEDGER = LedgerEntry.__table__
HI = [{"role": "user", "content": "hi"}]


@dataclass
class Tenant:
    id: str
    name: str
    secret: str
    key_id: str


@dataclass(frozen=True)
class Holdings:
    """What B keeps behind the newer front doors: a stored response, a batch input
    file, a batch run to completion and its output file."""

    response_id: str
    file_id: str
    batch_id: str
    output_file_id: str


@dataclass
class World:
    suite: Suite
    a: Tenant
    b: Tenant
    b_revoked: Tenant  # B's second key, revoked
    held: Holdings
    b_before: dict[str, Any]  # B's ledger, reservations, bill and holdings before A's probes
    a_billed: int = 0  # calls of A's that the upstream served (each leaves a ledger row)
    answers: list[tuple[str, httpx.Response]] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.suite.http_port}"

    def needles(self) -> dict[str, str]:
        """What of B's must never reach A."""
        b, held = self.b, self.held
        spent = self.b_before["bill"]["total"]
        return {
            "B's id": b.id,
            "B's name": b.name,
            "B's key id": b.key_id,
            "B's revoked key id": self.b_revoked.key_id,
            "B's key": b.secret,
            "B's end user": B_USER,
            "B's spend": spent,
            "B's prompt": B_PROMPT,
            "B's custom id": B_CUSTOM_ID,
            "B's response id": held.response_id,
            "B's file id": held.file_id,
            "B's batch id": held.batch_id,
            "B's output file id": held.output_file_id,
            **{
                f"B's request {i}": row["request_id"]
                for i, row in enumerate(self.b_before["ledger"])
            },
        }


def admin(suite: Suite) -> httpx.Client:
    root = f"http://127.0.0.1:{suite.http_port}"
    return httpx.Client(base_url=root, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def tenant(suite: Suite, name: str, **project: str) -> Tenant:
    with admin(suite) as api:
        made = api.post("/admin/projects", json={"name": name, **project})
        assert made.status_code == 201, made.text
        key = api.post(f"/admin/projects/{name}/keys", json={"name": f"{name}-key"}).json()
    return Tenant(made.json()["id"], name, key["secret"], key["id"])


def second_key(suite: Suite, b: Tenant) -> Tenant:
    with admin(suite) as api:
        key = api.post(f"/admin/projects/{b.name}/keys", json={"name": "spare"}).json()
    return Tenant(b.id, b.name, key["secret"], key["id"])


def ledger(suite: Suite, project_id: str) -> list[dict[str, Any]]:
    with suite.engine.connect() as conn:
        rows = conn.execute(
            select(LEDGER).where(LEDGER.c.project_id == project_id).order_by(LEDGER.c.request_id)
        )
        return [dict(row._mapping) for row in rows]


def wait_ledger(suite: Suite, project_id: str, count: int) -> list[dict[str, Any]]:
    """Usage lands asynchronously; wait (bounded) until `count` rows are in."""
    deadline = time.monotonic() + 20
    while len(rows := ledger(suite, project_id)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def keep(suite: Suite, b: Tenant) -> Holdings:
    """B stores a response, uploads a batch file and runs a batch of it to the end.
    Leaves 1 + 2 ledger rows (the response's call and the batch's two lines)."""
    chat = {"model": "demo", "messages": [{"role": "user", "content": B_PROMPT}]}
    lines = [
        {"custom_id": B_CUSTOM_ID, "method": "POST", "url": "/v1/chat/completions", "body": chat},
        {"custom_id": "second", "method": "POST", "url": "/v1/chat/completions", "body": chat},
    ]
    auth = {"Authorization": f"Bearer {b.secret}"}
    with httpx.Client(base_url=suite.base_url.removesuffix("/v1"), headers=auth) as http:
        answer = http.post("/v1/responses", json={"model": "demo", "input": B_PROMPT})
        assert answer.status_code == 200, answer.text
        uploaded = http.post(
            "/v1/files",
            files={"file": ("bravo-batch.jsonl", jsonl(lines))},
            data={"purpose": "batch"},
        )
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["id"]
        made = http.post(
            "/v1/batches",
            json={"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                  "completion_window": "24h"},
        )  # fmt: skip
        assert made.status_code == 200, made.text
        batch_id = made.json()["id"]
        deadline = time.monotonic() + 60
        while (batch := http.get(f"/v1/batches/{batch_id}").json())["status"] != "completed":
            assert batch["status"] in ("validating", "in_progress", "finalizing"), batch
            assert time.monotonic() < deadline, batch
            time.sleep(0.1)
    return Holdings(answer.json()["id"], file_id, batch_id, batch["output_file_id"])


def holdings_of(suite: Suite, b: Tenant, held: Holdings) -> dict[str, Any]:
    """Everything B's key sees of its holdings (status and body of each read)."""
    reads = [
        f"/v1/responses/{held.response_id}",
        f"/v1/responses/{held.response_id}/input_items",
        "/v1/files",
        f"/v1/files/{held.file_id}",
        f"/v1/files/{held.file_id}/content",
        f"/v1/files/{held.output_file_id}",
        f"/v1/files/{held.output_file_id}/content",
        "/v1/batches",
        f"/v1/batches/{held.batch_id}",
    ]
    auth = {"Authorization": f"Bearer {b.secret}"}
    with httpx.Client(base_url=suite.base_url.removesuffix("/v1"), headers=auth) as http:
        return {path: (r.status_code, r.text) for path in reads if (r := http.get(path))}


def state_of(suite: Suite, b: Tenant, held: Holdings) -> dict[str, Any]:
    """B's ledger rows, reservations, bill, budgets and holdings, as B and the operator
    see them."""
    with suite.engine.connect() as conn:
        holds = conn.execute(select(RESERVATIONS).where(RESERVATIONS.c.project_id == b.id)).all()
    with admin(suite) as api:
        bill = api.get(f"/admin/projects/{b.name}/bill").json()
        budgets = api.get("/admin/budgets", params={"project": b.name}).json()["data"]
    bill.pop("forecast", None)  # a projection from the clock, not a sum of rows
    return {
        "ledger": ledger(suite, b.id),
        "reservations": sorted(tuple(r) for r in holds),
        "bill": bill,
        "budgets": budgets,
        "holdings": holdings_of(suite, b, held),
    }


def _sent(request: httpx.Request) -> str:
    try:
        body = request.content.decode(errors="replace")
    except httpx.RequestNotRead:  # a streamed upload: its file is A's own
        body = ""
    headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
    return f"{request.url}\n{headers}\n{body}"


def leaks(world: World, reply: httpx.Response) -> list[str]:
    """Which of B's needles the answer holds, in its body or its headers. What A itself
    sent (one of B's ids or names, on purpose) is no leak when the answer quotes it: a
    refusal naming the id asked for, a response echoing its request's `metadata` and
    `user`, the `x-client-request-id` header echoing A's own; every other needle is."""
    headers = "\n".join(
        f"{name}: {value}"
        for name, value in reply.headers.items()
        if name.lower() != "x-client-request-id"
    )
    seen = f"{reply.text}\n{headers}"
    quoted = _sent(reply.request)
    return [
        what for what, needle in world.needles().items() if needle in seen and needle not in quoted
    ]


def probe(
    world: World, http: httpx.Client, label: str, method: str, path: str, **kw: Any
) -> httpx.Response:
    """One request as A; no 5xx, nothing of B's in the answer."""
    reply = http.request(method, path, **kw)
    world.answers.append((label, reply))
    assert reply.status_code < 500, (label, reply.status_code, reply.text[:500])
    assert not leaks(world, reply), (label, leaks(world, reply), reply.text[:500])
    return reply


def naming(world: World) -> list[dict[str, str]]:
    """Headers a client might send to pick a project other than its key's, or to pass
    its call off as one of B's already billed (ingest is idempotent by request id)."""
    b, request_id = world.b, world.b_before["ledger"][0]["request_id"]
    return [
        {},
        {"OpenAI-Organization": b.id, "OpenAI-Project": b.id, "x-tollgate-project": b.id},
        {"OpenAI-Organization": b.name, "OpenAI-Project": b.name, "x-tollgate-project": b.name},
        {"x-request-id": request_id, "request-id": request_id, "Idempotency-Key": request_id},
    ]


# Routes that hold nothing of any tenant's: no probe of A's could reach B through them.
NO_TENANT_DATA = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/dashboard"),  # the page itself, the same file for everyone
    ("GET", "/dashboard/static/{name:path}"),
    ("POST", "/dashboard/api/signout"),  # ends only the session it is sent with
}


def gateway_routes() -> list[Route]:
    """The gateway's routes, from the app itself (its gRPC stubs are never called)."""
    unused: Any = object()
    app = create_app(
        create_engine("sqlite://"), admin_token=ADMIN_TOKEN, budget=unused, router=unused,
        metering=unused,
    )  # fmt: skip
    return [route for route in app.routes if isinstance(route, Route)]


def unreached(asked: list[tuple[str, str]], exempt: set[tuple[str, str]]) -> list[str]:
    """'METHOD /template' of every gateway route none of the (method, path) asked
    matches, apart from `exempt`: a new route fails the suite until it is probed."""
    missing = []
    for route in gateway_routes():
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if (method, route.path) in exempt:
                continue
            if not any(m == method and route.path_regex.match(p) for m, p in asked):
                missing.append(f"{method} {route.path}")
    return missing
