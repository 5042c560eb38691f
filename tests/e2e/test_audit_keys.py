"""Issue 11 on the whole suite (separate processes, SQLite): a key made to expire
serves calls until it expires and then gets the OpenAI SDK's AuthenticationError
("expired"); a key rotated with `tollgate key rotate --grace` keeps its old secret
working until the grace ends, then only the new one works; and every change made over
HTTP and by the CLI is in the audit log, read alike over HTTP, the local CLI and
`tollgate --url`."""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.suite import Suite, start_suite, stop_suite

TOKEN = "admin-token-of-the-audit-suite"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("audit")
    running = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", extra_env={"TOLLGATE_ADMIN_TOKEN": TOKEN}
    )
    yield running
    stop_suite(running)


@pytest.fixture
def api(suite: Suite) -> Iterator[httpx.Client]:
    base = suite.base_url.removesuffix("/v1")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def call(suite: Suite, secret: str) -> None:
    sdk = openai.OpenAI(base_url=suite.base_url, api_key=secret, max_retries=0)
    sdk.chat.completions.create(model="demo", messages=MESSAGES)  # type: ignore[arg-type]


def refused(suite: Suite, secret: str) -> str:
    with pytest.raises(openai.AuthenticationError) as caught:
        call(suite, secret)
    return str(caught.value)


def test_keys_expire_rotate_and_every_change_is_audited(suite: Suite, api: httpx.Client) -> None:
    assert api.post("/admin/projects", json={"name": "audited"}).status_code == 201
    short = api.post(
        "/admin/projects/audited/keys", json={"name": "short", "expires_in_seconds": 4}
    ).json()
    assert short["expires_at"] and short["status"] == "active"
    call(suite, short["secret"])  # the gateway caches it now
    time.sleep(4.5)
    assert "expired" in refused(suite, short["secret"])
    listed = {k["id"]: k for k in api.get("/admin/projects/audited/keys").json()["data"]}
    assert listed[short["id"]]["status"] == "expired"

    made = json.loads(suite.cli("key", "create", "--project", "audited", "--json").stdout)
    call(suite, made["secret"])
    rotated = json.loads(suite.cli("key", "rotate", made["id"], "--grace", "4s", "--json").stdout)
    assert rotated["id"] == made["id"] and rotated["previous_expires_at"]
    started = time.monotonic()
    call(suite, made["secret"])  # the old secret, in its grace
    call(suite, rotated["secret"])
    time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
    assert "rotated" in refused(suite, made["secret"])
    call(suite, rotated["secret"])

    me = "cli:" + getpass.getuser()
    admin = "admin:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    shown = api.get("/admin/audit", params={"project": "audited"}).json()["data"]
    assert [(e["action"], e["actor"]) for e in shown] == [
        ("key.rotate", me),
        ("key.create", me),
        ("key.create", admin),
        ("project.create", admin),
    ]
    assert shown[0]["target"] == made["id"]
    assert all(made["secret"] not in json.dumps(e) for e in shown)
    local = json.loads(suite.cli("audit", "list", "--project", "audited", "--json").stdout)
    url = suite.base_url.removesuffix("/v1")
    remote = suite.cli("--url", url, "audit", "list", "--project", "audited", "--json")
    assert json.loads(remote.stdout) == local
    assert [e["id"] for e in local] == [e["id"] for e in shown]
    table = suite.cli("--url", url, "audit", "list", "--project", "audited").stdout
    assert "key.rotate" in table and me in table
