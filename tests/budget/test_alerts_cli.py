"""`tollgate alert ...` and `tollgate key resume`, run as an operator runs them, and the
alert settings they read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from services.budget.alerts import Crossing, record_crossings
from tests.budget.alert_receiver import receiver
from tollgate.alertconfig import AlertSettings, parse_alerts
from tollgate.config import ConfigError, load_settings
from tollgate.db import make_engine, utcnow
from tollgate.db.models import API_KEYS


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The CLI runs against the shared `services` (tests/conftest.py) on SQLite."""
    return sqlite_url


@pytest.fixture
def tollgate(cli, monkeypatch):  # type: ignore[no-untyped-def]
    """`cli`, whose services hold a project `acme` already."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return cli


def test_list_test_and_resume(tollgate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = tollgate("key", "create", "--project", "nobody", "--json")
    assert code == 2  # no such project: a clear error, nothing written
    _, out, _ = tollgate("key", "create", "--project", "acme", "--json")
    key = json.loads(out)["id"]
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    _, out, _ = tollgate("project", "list", "--json")
    project = json.loads(out)[0]["id"]
    with engine.begin() as conn:
        record_crossings(
            conn,
            [
                Crossing(
                    3,
                    project,
                    key,
                    "monthly",
                    "2026-11",
                    500 * 10**9,
                    "CNY",
                    (50, 80, 100),
                    0,
                    260 * 10**9,
                )
            ],
            utcnow(),
        )
        conn.execute(update(API_KEYS).where(API_KEYS.c.id == key).values(paused_at=utcnow()))

    code, out, _ = tollgate("alert", "list", "--project", "acme", "--json")
    [alert] = json.loads(out)
    assert code == 0 and alert["state"] == "pending" and alert["attempts"] == []
    assert alert["message"] == (
        f"tollgate budget alert: key {key} of project acme reached 50% of its monthly budget "
        "(2026-11): CNY 260.00 spent of CNY 500.00"
    )
    code, out, _ = tollgate("alert", "list")
    assert code == 0 and "threshold" in out and "pending" in out

    code, _, err = tollgate("alert", "test")
    assert code == 2 and "no webhooks configured" in err
    with receiver() as rx:
        rx.script["/bad"] = [(500, {})]
        monkeypatch.setenv(
            "TOLLGATE_ALERT_WEBHOOKS", f"slack={rx.base}/ok?token=SECRET1,{rx.base}/bad?k=SECRET2"
        )
        code, out, _ = tollgate("alert", "webhooks")
        assert code == 0 and "slack" in out and "SECRET" not in out
        code, out, _ = tollgate("alert", "test", "--project", "acme")
        assert code == 1  # one webhook failed
        assert "delivered" in out and "HTTP 500" in out and "SECRET" not in out
        assert rx.to("/ok")[0].body == {
            "text": "tollgate test alert for project acme: webhook delivery works"
        }
        assert len(rx.to("/bad")) == 1  # a test is one attempt, not retried
    _, out, _ = tollgate("alert", "list", "--json")
    test_alert = json.loads(out)[0]
    assert test_alert["kind"] == "test" and test_alert["state"] == "failed"

    code, out, _ = tollgate("key", "resume", key)
    assert code == 0 and "resumed" in out
    code, out, _ = tollgate("alert", "resume", key)
    assert code == 0 and "was not paused" in out
    code, _, err = tollgate("key", "resume", "key_nope")
    assert code == 2 and "no key" in err
    engine.dispose()


def test_webhooks_from_the_environment_and_the_yaml(tmp_path: Path) -> None:
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        "alerts:\n"
        "  spike_factor: 7.5\n"
        "  spike_pause_keys: true\n"
        "  webhooks:\n"
        "    - {url_env: DING_URL, format: dingtalk, project: acme, secret_env: DING_SECRET}\n"
        "    - https://example.com/plain\n"
    )
    env = {
        "TOLLGATE_HOME": str(tmp_path),
        "TOLLGATE_CONFIG": str(config),
        "DING_URL": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "DING_SECRET": "SEC",
        # a bare URL whose query holds "=", then format=url
        "TOLLGATE_ALERT_WEBHOOKS": "https://h.example/x?a=b, feishu=https://open.feishu.cn/hook/1",
        "TOLLGATE_ALERT_MAX_ATTEMPTS": "3",
    }
    alerts = load_settings(env).alerts
    assert [(h.format, h.url, h.project) for h in alerts.webhooks] == [
        ("generic", "https://h.example/x?a=b", ""),
        ("feishu", "https://open.feishu.cn/hook/1", ""),
        ("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=abc", "acme"),
        ("generic", "https://example.com/plain", ""),
    ]
    assert alerts.webhooks[2].secret == "SEC" and "abc" not in repr(alerts)
    assert alerts.webhooks[2].label.startswith("dingtalk https://oapi.dingtalk.com/… (wh-")
    assert (alerts.max_attempts, alerts.spike_pause_keys) == (3, True)
    assert str(alerts.spike_factor) == "7.5"
    assert parse_alerts(None, {}) == AlertSettings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOLLGATE_ALERT_WEBHOOKS": "teams=https://x.example/TOKEN"}, "must be an http(s) URL"),
        ({"TOLLGATE_ALERT_WEBHOOKS": "ftp://x.example/TOKEN"}, "must be an http(s) URL"),
        ({"TOLLGATE_ALERT_MAX_ATTEMPTS": "0"}, "max_attempts"),
        ({"TOLLGATE_ALERT_SPIKE_FACTOR": "lots"}, "spike_factor"),
        ({"TOLLGATE_ALERT_SPIKE_MIN_REQUESTS": "1"}, "spike_min_requests"),
    ],
)
def test_bad_alert_settings_are_refused_without_echoing_the_url(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"TOLLGATE_HOME": "/nonexistent", **env})
    assert message in str(error.value) and "TOKEN" not in str(error.value)
