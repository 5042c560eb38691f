"""The CLI against a remote gateway: `tollgate --url URL` (or TOLLGATE_URL) with
TOLLGATE_ADMIN_TOKEN runs the operator commands over the HTTP admin API, from a folder
with no state and no gRPC address, and prints what the gRPC path prints."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.suite import Suite, free_port, start_suite, stop_suite
from tollgate.cli.main import main

pytestmark = pytest.mark.e2e  # starts the suite as separate processes

TOKEN = "admin-token-for-remote-cli"
PRICE = "--input 1.5 --output 6 --currency USD --max-output-tokens 100".split()
TOTAL_BUDGET = "--period total --amount 3 --alert-at 50,90".split()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    home: Path = tmp_path_factory.mktemp("remote")
    running = start_suite(
        home, f"sqlite:///{home / 'tollgate.db'}", extra_env={"TOLLGATE_ADMIN_TOKEN": TOKEN}
    )
    yield running
    stop_suite(running)


def _run(
    env: dict[str, str], argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`tollgate argv` in this process with exactly the TOLLGATE_* variables of `env`."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if not k.startswith("TOLLGATE_")})
    os.environ.update({k: v for k, v in env.items() if k.startswith("TOLLGATE_")})
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


@pytest.fixture
def local(suite: Suite, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """The CLI beside the suite, over gRPC with its state: (exit code, stdout, stderr)."""
    return lambda *argv: _run(suite.env, argv, capsys)


@pytest.fixture
def remote(suite: Suite, tmp_path: Path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    """The CLI elsewhere: a folder with no state, no service address, only the admin
    token, and `--url` the gateway's."""
    monkeypatch.chdir(tmp_path)
    url = suite.base_url.removesuffix("/v1")
    env = {"TOLLGATE_ADMIN_TOKEN": TOKEN, "TOLLGATE_HOME": str(tmp_path / "nothing")}
    return lambda *argv: _run(env, ("--url", url, *argv), capsys)


def test_operator_commands_print_the_same_as_over_grpc(local, remote, suite: Suite) -> None:  # type: ignore[no-untyped-def]
    code, out, err = remote("project", "create", "far", "--monthly-budget", "50")
    assert (code, err) == (0, "") and out.startswith("created project far (")
    code, out, _ = remote("key", "create", "--project", "far", "--name", "ci", "--json")
    key = json.loads(out)
    assert code == 0 and key["secret"].startswith("tg-")
    _one_call(remote, suite, "far", key["secret"])

    # Writes that give the same answer twice: one way, then the other.
    for argv in [
        ("project", "budget", "far", "60"),
        ("budget", "set", "--project", "far", "--period", "daily", "--amount", "7", "--soft"),
        ("budget", "set", "--project", "far", "--key", key["id"], *TOTAL_BUDGET),
        ("price", "set", "vendor/remote-x", *PRICE),
        ("price", "set", "vendor/remote-b", *PRICE, "--batch-input", "1", "--batch-output", "2"),
    ]:
        assert remote(*argv) == local(*argv)[:2] + ("",), argv

    for argv in [
        ("project", "list"),
        ("project", "list", "--json"),
        ("key", "list", "--project", "far"),
        ("budget", "list"),
        ("budget", "list", "--project", "far", "--json"),
        ("price", "list"),
        ("price", "list", "--json"),
        ("bill", "--project", "far"),
        ("bill", "--project", "far", "--json"),
        ("report",),
        ("report", "--project", "far", "--by", "model,key,day"),
        ("report", "--project", "far", "--json"),
        ("report", "--by", "project,user", "--csv"),
    ]:
        code, out, err = remote(*argv)
        assert (code, err) == (0, ""), argv
        assert out == local(*argv)[1], argv

    code, out, _ = remote("key", "revoke", key["id"])
    assert code == 0 and out.startswith(f"revoked key {key['id']};")
    assert "revoked" in local("key", "list", "--project", "far")[1]


def _one_call(remote, suite: Suite, project: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    """One chat call with `secret`, waited for until the project's bill counts it."""
    reply = httpx.post(
        f"{suite.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert reply.status_code == 200
    deadline = time.monotonic() + 15
    while json.loads(remote("bill", "--project", project, "--json")[1])["requests"] != 1:
        assert time.monotonic() < deadline, "the call never reached the ledger"
        time.sleep(0.1)


def test_the_other_operator_commands_print_the_same_as_over_grpc(local, remote, suite) -> None:  # type: ignore[no-untyped-def]
    assert remote("project", "create", "near")[0] == 0
    code, out, _ = remote("key", "create", "--project", "near", "--name", "ci", "--json")
    key = json.loads(out)
    _one_call(remote, suite, "near", key["secret"])

    def same_twice(*argv: str) -> None:
        """A write that answers the same when repeated (but for the time it was made):
        one way, then the other."""
        assert _untimed(remote(*argv)) == _untimed(local(*argv)[:2] + ("",)), argv

    def same_once(setup: tuple[str, ...], *argv: str) -> None:
        """A write that answers differently when repeated: `setup`, then `argv` one way;
        `setup` again, then `argv` the other way; then `argv` again both ways (a
        refusal now, also the same)."""
        assert local(*setup)[0] == 0
        first = remote(*argv)
        assert first[0] == 0 and first[2] == "", (argv, first)
        assert local(*setup)[0] == 0
        assert first == local(*argv), argv
        again = remote(*argv)
        assert again[0] == 2 and again == local(*argv), (argv, again)

    same_twice("key", "resume", key["id"])
    same_twice("alert", "resume", key["id"])
    same_twice("project", "multiplier", "near", "1.15")
    same_twice("limit", "set", "--project", "near", "--rpm", "600", "--tpm", "none")
    same_twice("limit", "set", "--project", "near", "--key", key["id"], "--concurrency", "4")
    same_twice("policy", "set", "--project", "near", "--allow", "demo", "--max-tokens", "500")
    same_twice("policy", "set", "--project", "near", "--compact", "on", "--priority", "low")
    same_twice("policy", "set", "--key", key["id"], "--priority", "high")
    daily = ("budget", "set", "--project", "near", "--period", "daily", "--amount", "5")
    same_once(daily, "budget", "delete", "--project", "near", "--period", "daily")
    keyed = ("budget", "set", "--project", "near", "--key", key["id"], *TOTAL_BUDGET)
    same_once(
        keyed, "budget", "delete", "--project", "near", "--key", key["id"], "--period", "total"
    )
    rpm = ("limit", "set", "--project", "near", "--key", key["id"], "--rpm", "5")
    same_once(rpm, "limit", "clear", "--project", "near", "--key", key["id"])

    for argv in [
        ("limit", "list"),
        ("limit", "list", "--project", "near", "--json"),
        ("policy", "show", "--project", "near"),
        ("policy", "show", "--project", "near", "--json"),
        ("policy", "show", "--key", key["id"], "--json"),
        ("alert", "list"),
        ("alert", "list", "--project", "near", "--limit", "5", "--json"),
        ("report", "savings"),
        ("report", "savings", "--project", "near", "--json"),
        ("report", "whatif", "--project", "near", "--month", _this_month()),
        (
            "report",
            "whatif",
            "--project",
            "near",
            "--month",
            _this_month(),
            "--json",
            "--map",
            "demo=vendor/x",
            "--price",
            "vendor/x=2,8,1",
            "--cache-hit-rate",
            "0.5",
        ),
        ("calls", "--project", "near"),
        ("calls", "--project", "near", "--csv"),
        ("calls", "--project", "near", "--json"),
    ]:
        code, out, err = remote(*argv)
        assert (code, err) == (0, ""), (argv, err)
        assert out == local(*argv)[1], argv
    assert json.loads(remote("calls", "--project", "near", "--json")[1])[0]["cost"]

    for argv in [
        ("report", "whatif", "--project", "near", "--map", "nonsense"),
        ("calls", "--project", "no-such-project"),
        ("policy", "set", "--key", key["id"], "--max-tokens", "5"),
    ]:
        code, out, err = remote(*argv)
        assert code == 2 and (code, out, err) == local(*argv), argv


def _untimed(result: tuple[int, str, str]) -> tuple[int, str, str]:
    """A command's result without the lines that show when a thing was last written."""
    code, out, err = result
    kept = [line for line in out.splitlines(keepends=True) if "updated_at" not in line]
    return code, "".join(kept), err


def _this_month() -> str:
    return time.strftime("%Y-%m", time.gmtime())


def _one_line(err: str) -> str:
    assert err.startswith("tollgate: ") and err.count("\n") == 1, err
    return err


def test_refused_input_is_one_line_and_exit_2(remote) -> None:  # type: ignore[no-untyped-def]
    code, out, err = remote("bill", "--project", "no-such-project")
    assert (code, out) == (2, "") and "no-such-project" in _one_line(err)
    code, _, err = remote("price", "set", "m", "--input", "abc", "--output", "1")
    assert code == 2 and "abc" in _one_line(err)
    code, _, err = remote("project", "create", "far2", "--currency", "XYZ")
    assert code == 2 and _one_line(err)


def test_a_refused_token_is_one_line(suite: Suite, capsys) -> None:  # type: ignore[no-untyped-def]
    env = {"TOLLGATE_ADMIN_TOKEN": "not-the-admin-token-at-all"}
    url = suite.base_url
    code, out, err = _run(env, ("--url", url, "project", "list"), capsys)
    assert (code, out) == (1, "") and "the admin token was refused" in _one_line(err)


def test_an_unreachable_gateway_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = _run({"TOLLGATE_ADMIN_TOKEN": TOKEN}, ("--url", url, "price", "list"), capsys)
    assert (code, out) == (1, "") and "not reachable" in _one_line(err)


def test_tollgate_url_is_the_default_and_needs_the_token(suite: Suite, capsys) -> None:  # type: ignore[no-untyped-def]
    env = {"TOLLGATE_URL": suite.base_url, "TOLLGATE_ADMIN_TOKEN": TOKEN}
    code, out, _ = _run(env, ("price", "list", "--json"), capsys)
    assert code == 0 and "demo" in {p["model"] for p in json.loads(out)}
    code, out, err = _run({"TOLLGATE_URL": suite.base_url}, ("price", "list"), capsys)
    assert (code, out) == (2, "") and "TOLLGATE_ADMIN_TOKEN" in _one_line(err)
    code, _, err = _run(env | {"TOLLGATE_URL": "ftp://x"}, ("price", "list"), capsys)
    assert code == 2 and "not an http" in _one_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ("up",),
        ("routes",),
        ("alert", "webhooks"),
        ("alert", "test"),
        ("report", "allocate", "--total", "1", "--currency", "CNY"),
    ],
)
def test_a_command_with_no_remote_route_says_so(argv: tuple[str, ...], capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = _run({"TOLLGATE_ADMIN_TOKEN": TOKEN}, ("--url", url, *argv), capsys)
    assert (code, out) == (2, "") and "does not run against a remote gateway" in _one_line(err)
