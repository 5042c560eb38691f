"""Defect 9b: the admin token opens every project's keys and money, so a short one
is refused at start, with one clear line and a non-zero exit, and never echoed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.suite import free_port
from tollgate.config import MIN_ADMIN_TOKEN_LENGTH, ConfigError, load_settings

SHORT = "hunter2-admin"  # 13 characters


def test_a_short_admin_token_is_refused_and_a_long_one_kept(tmp_path: Path) -> None:
    base = {"TOLLGATE_HOME": str(tmp_path)}
    for short in (SHORT, "x" * (MIN_ADMIN_TOKEN_LENGTH - 1), f"  {'y' * 15}  "):
        with pytest.raises(ConfigError) as refused:
            load_settings({**base, "TOLLGATE_ADMIN_TOKEN": short})
        message = str(refused.value)
        assert "TOLLGATE_ADMIN_TOKEN" in message and str(MIN_ADMIN_TOKEN_LENGTH) in message
        assert short.strip() not in message
    token = "z" * MIN_ADMIN_TOKEN_LENGTH
    assert load_settings({**base, "TOLLGATE_ADMIN_TOKEN": f" {token}\n"}).admin_token == token
    assert load_settings({**base, "TOLLGATE_ADMIN_TOKEN": ""}).admin_token == ""  # API off
    assert load_settings(base).admin_token == ""


@pytest.mark.parametrize("command", [["serve", "gateway"], ["up"]])
def test_the_gateway_will_not_start_with_a_short_admin_token(
    tmp_path: Path, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "OPENAI_"))}
    env.update(
        {
            "TOLLGATE_HOME": str(tmp_path),
            "TOLLGATE_ADMIN_TOKEN": SHORT,
            "TOLLGATE_HTTP_PORT": str(free_port()),
            **{
                f"TOLLGATE_{name}_ADDR": f"127.0.0.1:{free_port()}"
                for name in ("GATEWAY", "ROUTER", "METERING", "BUDGET")
            },
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tollgate", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a regression's services can all be stopped
    )
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # it started: the defect
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"`tollgate {' '.join(command)}` started with a 13-character admin token")
    assert process.returncode != 0
    [line] = err.strip().splitlines()
    assert line.startswith("tollgate: TOLLGATE_ADMIN_TOKEN: must be at least 16 characters")
    assert SHORT not in out + err and out == ""
