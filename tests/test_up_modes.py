"""`tollgate up`'s two modes as the command line and the supervisor see them (the
suites themselves run in tests/e2e/test_supervisor.py and test_one_process.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tollgate.cli import supervisor
from tollgate.cli.main import build_parser
from tollgate.config import load_settings
from tollgate.settings.model import UpMode


@pytest.mark.parametrize(
    ("argv", "mode"),
    [
        (["up"], None),
        (["up", "--split"], "split"),
        (["up", "--two-processes"], "two"),
        (["up", "--one-process"], "one"),
    ],
)
def test_up_takes_the_mode_from_its_flags(argv: list[str], mode: str | None) -> None:
    assert build_parser("up").parse_args(argv).mode == mode


def test_up_refuses_both_modes_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser("up").parse_args(["up", "--split", "--one-process"])
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["all", "front", "back"])
def test_serve_takes_a_host_of_several_services(host: str) -> None:
    assert build_parser("serve").parse_args(["serve", host]).service == host


UPSTREAM_KEY, ADMIN_TOKEN = "sk-upstream-secret-0123", "admin-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("mode", "holds"),
    [
        # The host of the router holds the upstream key, the gateway's the admin token.
        (UpMode.ONE, {"all": (True, True)}),
        (UpMode.TWO, {"front": (True, True), "back": (False, False)}),
    ],
)
def test_each_host_is_given_the_secrets_of_its_services_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: UpMode,
    holds: dict[str, tuple[bool, bool]],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("TOLLGATE_ADMIN_TOKEN", ADMIN_TOKEN)
    settings = load_settings({"TOLLGATE_HOME": str(tmp_path), "OPENAI_API_KEY": UPSTREAM_KEY})
    children = supervisor._children(settings, mode)
    assert set(children) == set(holds)
    for name, child in children.items():
        assert child.env is not None
        held = (
            child.env.get("OPENAI_API_KEY") == UPSTREAM_KEY,
            "TOLLGATE_ADMIN_TOKEN" in child.env,
        )
        assert held == holds[name], name
        assert child.env["PATH"] == os.environ["PATH"]  # the rest is passed on
