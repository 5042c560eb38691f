"""The tenant probes of the newer front doors: the Responses API, /v1/completions,
/v1/models/{id}, the Files and Batch API and the dashboard's data routes. A's key (and
A's dashboard session) names each of B's ids; every one is a 404 exactly like an
unknown id (never a 400, 403 or 409 that would tell A it exists), and the calls A
makes through these doors are A's own."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.security.tenants import B_USER, HI, World, jsonl, naming, probe

DASHBOARD_DATA = ("summary", "series", "breakdown", "calls", "alerts")


def auths(secret: str) -> list[dict[str, str]]:
    return [{"Authorization": f"Bearer {secret}"}, {"x-api-key": secret}]


def b_ids(world: World) -> list[tuple[str, str]]:
    """(method, path) of every read and change of B's holdings."""
    held = world.held
    calls = [
        ("GET", f"/v1/responses/{held.response_id}"),
        ("GET", f"/v1/responses/{held.response_id}/input_items"),
        ("DELETE", f"/v1/responses/{held.response_id}"),
        ("GET", f"/v1/batches/{held.batch_id}"),
        ("POST", f"/v1/batches/{held.batch_id}/cancel"),
    ]
    for file_id in (held.file_id, held.output_file_id):
        calls += [
            ("GET", f"/v1/files/{file_id}"),
            ("GET", f"/v1/files/{file_id}/content"),
            ("DELETE", f"/v1/files/{file_id}"),
        ]
    return calls


def probe_holdings(world: World, http: httpx.Client) -> None:
    """B's response, files and batch by id, with every way of naming B: 404s."""
    for method, path in b_ids(world):
        for headers in naming(world):
            for auth in auths(world.a.secret):
                label = f"{method} {path} {headers}"
                reply = probe(world, http, label, method, path, headers={**auth, **headers})
                assert reply.status_code == 404, (label, reply.text[:300])
    # A's lists hold nothing of B's, however they are paged or filtered.
    held, auth = world.held, auths(world.a.secret)[0]
    for path, params in [
        ("/v1/files", {}),
        ("/v1/files", {"purpose": "batch"}),
        ("/v1/files", {"purpose": "batch_output", "order": "asc"}),
        ("/v1/files", {"after": held.file_id}),
        ("/v1/batches", {}),
        ("/v1/batches", {"after": held.batch_id, "limit": "100"}),
    ]:
        for headers in naming(world):
            label = f"GET {path} {params} {headers}"
            reply = probe(world, http, label, "GET", path, params=params,
                          headers={**auth, **headers})  # fmt: skip
            assert reply.status_code in (200, 404), (label, reply.text[:300])
            if reply.status_code == 200:  # A's own upload only (probe_new_calls made it)
                shown = {item.get("filename", item["id"]) for item in reply.json()["data"]}
                assert shown <= {"alpha.jsonl"}, (label, reply.text[:300])


def probe_new_calls(world: World, http: httpx.Client) -> None:
    """The newer call doors, with every way of naming B; each call served is A's, and
    B's ids as a previous response or a batch's input file are unknown to A."""
    b, held = world.b, world.held
    metadata = {"project": b.id, "project_id": b.id, "organization": b.name}
    doors: list[tuple[str, dict[str, Any]]] = [
        ("/v1/responses", {"model": "demo", "input": "hi", "user": B_USER, "metadata": metadata}),
        ("/v1/completions", {"model": "demo", "prompt": "hi", "max_tokens": 5, "user": B_USER}),
    ]
    for path, body in doors:
        for headers in naming(world):
            for auth in auths(world.a.secret)[:1]:
                label = f"POST {path} {headers}"
                reply = probe(world, http, label, "POST", path, json=body,
                              headers={**auth, **headers})  # fmt: skip
                assert reply.status_code == 200, (label, reply.text[:300])
                world.a_billed += 1
    auth = auths(world.a.secret)[0]
    for model in (b.id, b.name, held.response_id, "demo"):
        label = f"GET /v1/models/{model}"
        reply = probe(world, http, label, "GET", f"/v1/models/{model}", headers=auth)
        assert reply.status_code == (200 if model == "demo" else 404), (label, reply.text)
    for stream in (False, True):
        body = {"model": "demo", "input": "hi", "previous_response_id": held.response_id,
                "stream": stream}  # fmt: skip
        label = f"POST /v1/responses previous_response_id=B's stream={stream}"
        reply = probe(world, http, label, "POST", "/v1/responses", json=body, headers=auth)
        assert reply.status_code == 400, (label, reply.text[:300])
        assert reply.json()["error"]["param"] == "previous_response_id", reply.text
    # A's own file is A's; B's file as A's batch input is a 404, and no batch is made.
    own = http.post(
        "/v1/files",
        files={"file": ("alpha.jsonl", jsonl([{"custom_id": "a", "method": "POST",
               "url": "/v1/chat/completions", "body": {"model": "demo", "messages": HI}}]))},
        data={"purpose": "batch"},
        headers=auth,
    )  # fmt: skip
    assert own.status_code == 200, own.text
    world.answers.append(("POST /v1/files (A's own)", own))
    for file_id in (held.file_id, held.output_file_id):
        for endpoint in ("/v1/chat/completions", "/v1/responses"):
            body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h",
                    "metadata": {"project": b.id}}  # fmt: skip
            label = f"POST /v1/batches input_file_id={file_id} {endpoint}"
            reply = probe(world, http, label, "POST", "/v1/batches", json=body, headers=auth)
            assert reply.status_code == 404, (label, reply.text[:300])
    listed = http.get("/v1/batches", headers=auth).json()["data"]
    assert listed == [], listed
    assert [f["id"] for f in http.get("/v1/files", headers=auth).json()["data"]] == [
        own.json()["id"]
    ]


def dashboard_session(http: httpx.Client, secret: str) -> dict[str, str]:
    """The cookie header of a dashboard session signed in with `secret`."""
    signed = http.post("/dashboard/api/signin", json={"token": secret})
    assert signed.status_code == 200, signed.text
    return {"Cookie": f"tollgate_dashboard={signed.cookies['tollgate_dashboard']}"}


def probe_dashboard(world: World, http: httpx.Client) -> None:
    """A's project-key session names B by name and by id on every data route: 404s;
    the project list and the session are A's alone; the audit log is an operator's."""
    a, b = world.a, world.b
    cookie = dashboard_session(http, a.secret)
    who = probe(world, http, "GET /dashboard/api/session", "GET", "/dashboard/api/session",
                headers=cookie)  # fmt: skip
    assert (who.json()["project"], who.json()["project_id"]) == (a.name, a.id), who.text
    listed = probe(world, http, "GET /dashboard/api/projects", "GET", "/dashboard/api/projects",
                   headers=cookie)  # fmt: skip
    assert [p["id"] for p in listed.json()["data"]] == [a.id], listed.text
    for named in (b.name, b.id, f"{a.name}/../{b.name}", b.name.upper()):
        for route in DASHBOARD_DATA:
            path = f"/dashboard/api/projects/{named}/{route}"
            for headers in naming(world):
                reply = probe(world, http, f"GET {path} {headers}", "GET", path,
                              params={"project": b.id}, headers={**cookie, **headers})  # fmt: skip
                assert reply.status_code == 404, (path, reply.text[:300])
    for route in DASHBOARD_DATA:  # the control: A's own project answers
        path = f"/dashboard/api/projects/{a.name}/{route}"
        reply = probe(world, http, f"GET {path}", "GET", path, headers=cookie)
        assert reply.status_code == 200, (path, reply.text[:300])
    audit = probe(world, http, "GET /dashboard/api/audit", "GET", "/dashboard/api/audit",
                  headers=cookie)  # fmt: skip
    assert audit.status_code == 404, audit.text
    # B's key id is no sign-in token.
    refused = probe(world, http, "sign in with B's key id", "POST", "/dashboard/api/signin",
                    json={"token": b.key_id})  # fmt: skip
    assert refused.status_code == 401, refused.text


def revoked_doors(world: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, JSON body) of the newer doors, for B's revoked key: all 401."""
    held = world.held
    gets = [
        f"/v1/responses/{held.response_id}",
        f"/v1/responses/{held.response_id}/input_items",
        "/v1/files",
        f"/v1/files/{held.file_id}",
        f"/v1/files/{held.file_id}/content",
        "/v1/batches",
        f"/v1/batches/{held.batch_id}",
        "/v1/models/demo",
    ]
    return [
        *(("GET", path, None) for path in gets),
        ("DELETE", f"/v1/responses/{held.response_id}", None),
        ("DELETE", f"/v1/files/{held.file_id}", None),
        ("POST", f"/v1/batches/{held.batch_id}/cancel", None),
        ("POST", "/v1/responses", {"model": "demo", "input": "hi"}),
        ("POST", "/v1/completions", {"model": "demo", "prompt": "hi"}),
        ("POST", "/v1/batches", {"input_file_id": held.file_id,
                                 "endpoint": "/v1/chat/completions",
                                 "completion_window": "24h"}),
    ]  # fmt: skip


def refused_request(http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    """The answer once the address's failed-key throttle lets the request through (a
    revoked key counts as a failed lookup: 20 in 10 s and the next ones get a 429)."""
    while True:
        reply = http.request(method, path, **kw)
        if reply.status_code != 429 or "too_many_invalid_keys" not in reply.text:
            return reply
        time.sleep(float(reply.headers.get("retry-after", "1")))


def probe_revoked(world: World, http: httpx.Client) -> None:
    auth = auths(world.b_revoked.secret)[0]
    for method, path, body in revoked_doors(world):
        reply = refused_request(http, method, path, json=body, headers=auth)
        assert reply.status_code == 401, (method, path, reply.text)
    upload = refused_request(
        http, "POST", "/v1/files", files={"file": ("x.jsonl", b"{}\n")},
        data={"purpose": "batch"}, headers=auth,
    )  # fmt: skip
    assert upload.status_code == 401, upload.text
    signin = refused_request(
        http, "POST", "/dashboard/api/signin", json={"token": world.b_revoked.secret}
    )
    assert signin.status_code == 401, signin.text
