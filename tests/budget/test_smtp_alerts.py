"""E-mail alerts over SMTP (issue 11), against a real SMTP server on 127.0.0.1
(aiosmtpd): a budget threshold crossed by a settlement arrives as an e-mail naming
the project, the threshold, the spend and the budget; a server that is down is
retried like a webhook; STARTTLS with a login works and a refused login never shows
the password; recipients scoped to a project get only its alerts; and only Budget
holds the SMTP password."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope
from sqlalchemy import Engine

from services.budget.admin import budgets
from services.budget.admin import operations as admin
from services.budget.admin.alerts import list_alerts
from services.budget.alerts.delivery import deliver_due
from services.budget.prices import seed_prices
from services.budget.reservations import Decision, ReservationBook, Usage
from tests.e2e.suite import free_port
from tests.tlscerts import issue
from tollgate.alertconfig import AlertSettings, parse_alerts
from tollgate.cli.supervisor import child_env
from tollgate.config import for_service, load_settings
from tollgate.db import make_engine, utcnow
from tollgate.emailconfig import EmailSettings, EmailTarget

USER, PASSWORD = "tollgate", "smtp-password-never-shown"
OPS = EmailTarget(("ops@example.com", "finance@example.com"))


@dataclass
class Inbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def serve(inbox: Inbox, **kw: Any) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **kw)
    controller.start()
    return controller


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    box = Inbox(smtp_port)
    controller = serve(box)
    try:
        yield box
    finally:
        controller.stop()


def email_settings(port: int, *targets: EmailTarget, **kw: Any) -> AlertSettings:
    smtp = EmailSettings(
        host="127.0.0.1",
        sender="tollgate@example.com",
        port=port,
        targets=targets or (OPS,),
        **{"security": "none", **kw},
    )
    return AlertSettings(
        email=smtp, backoff_seconds=0.05, max_backoff_seconds=0.2, timeout_seconds=5.0
    )


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Engine, ReservationBook, str, str]]:
    engine = make_engine(db_url)
    seed_prices(engine, load_settings({"TOLLGATE_HOME": "/nonexistent"}))
    project = admin.create_project(engine, "acme", currency="CNY")
    key = admin.create_key(engine, "acme").info.id
    book = ReservationBook(engine, usd_to_cny=Decimal("7.2"), ttl_seconds=600)
    try:
        yield engine, book, project.id, key
    finally:
        engine.dispose()


def spend(book: ReservationBook, project: str, key: str, rid: str) -> None:
    """One demo call: CNY 0.126."""
    now = utcnow()
    decision = book.authorize(rid, project, key, "demo", 1000, 1000, now=now)
    assert decision.decision is Decision.ALLOWED
    book.settle(rid, project, key, "demo", Usage(1000, 1000), now)


def deliver(engine: Engine, settings: AlertSettings, until: float = 5.0) -> list[dict[str, Any]]:
    """Deliver until nothing is pending (or `until` seconds pass): the alerts then."""
    deadline = time.monotonic() + until
    with httpx.Client(timeout=2) as client:
        while True:
            deliver_due(engine, client, "w1", settings)
            shown = list_alerts(engine, None, 50)
            if all(a["state"] != "pending" for a in shown) or time.monotonic() > deadline:
                return shown
            time.sleep(0.05)


def test_a_threshold_alert_arrives_as_an_email(world: Any, inbox: Inbox) -> None:
    engine, book, project, key = world
    budgets.set_budget(engine, "acme", period="daily", amount="0.2", hard=False, alert_at="50")
    spend(book, project, key, "r1")
    settings = email_settings(inbox.port)
    (alert,) = deliver(engine, settings)
    assert alert["state"] == "delivered", alert
    assert [(a["webhook"], a["delivered"]) for a in alert["attempts"]] == [(OPS.label, True)]
    (mail,) = inbox.messages
    assert inbox.recipients == [["ops@example.com", "finance@example.com"]]
    assert mail["From"] == "tollgate@example.com"
    assert mail["To"] == "ops@example.com, finance@example.com"
    assert "budget threshold reached" in mail["Subject"] and "project acme" in mail["Subject"]
    body = mail.get_content()
    for line in ("Project: acme", "Threshold: 50%", "Spend: CNY 0.126", "Budget: CNY 0.20"):
        assert line in body, body
    assert "reached 50% of its daily budget" in body


def test_a_server_that_is_down_is_retried_until_it_answers(world: Any, smtp_port: int) -> None:
    engine, book, project, key = world
    budgets.set_budget(engine, "acme", period="daily", amount="0.2", hard=False, alert_at="50")
    spend(book, project, key, "r1")
    settings = email_settings(smtp_port)
    with httpx.Client() as client:
        assert deliver_due(engine, client, "w1", settings) == 1
    (alert,) = list_alerts(engine, None, 50)
    assert alert["state"] == "pending"
    assert alert["attempts"][0]["delivered"] is False and alert["attempts"][0]["error"]
    box = Inbox(smtp_port)
    controller = serve(box)
    try:
        (alert,) = deliver(engine, settings)
    finally:
        controller.stop()
    assert alert["state"] == "delivered"
    assert [a["attempt"] for a in alert["attempts"]] == [1, 2]
    assert len(box.messages) == 1


def test_starttls_with_a_login(world: Any, smtp_port: int, tmp_path: Path) -> None:
    engine, book, project, key = world
    certs = issue(tmp_path, "smtp")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certs.cert, certs.key)
    box = Inbox(smtp_port)
    controller = serve(
        box,
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        authenticator=_login,
        auth_exclude_mechanism=["LOGIN"],
    )
    try:
        budgets.set_budget(engine, "acme", period="daily", amount="0.2", hard=False, alert_at="50")
        spend(book, project, key, "r1")
        wrong = email_settings(
            smtp_port,
            security="starttls",
            user=USER,
            password="wrong-password-x",
            ca_file=str(certs.ca),
        )
        with httpx.Client() as client:
            deliver_due(engine, client, "w1", replace(wrong, timeout_seconds=1.0))
        (alert,) = list_alerts(engine, None, 50)
        error = alert["attempts"][0]["error"]
        # (aiosmtpd answers a refused login slowly: any failure will do, but never
        # one that shows the password.)
        assert alert["state"] == "pending" and error and "wrong-password-x" not in error
        right = email_settings(
            smtp_port, security="starttls", user=USER, password=PASSWORD, ca_file=str(certs.ca)
        )
        (alert,) = deliver(engine, right)
    finally:
        controller.stop()
    assert alert["state"] == "delivered" and len(box.messages) == 1


def test_project_recipients_get_only_their_projects_alerts(world: Any, inbox: Inbox) -> None:
    engine, book, project, key = world
    admin.create_project(engine, "other", currency="CNY")
    other_key = admin.create_key(engine, "other").info.id
    for name in ("acme", "other"):
        budgets.set_budget(engine, name, period="daily", amount="0.2", hard=False, alert_at="50")
    other = admin.get_project(engine, "other").id
    spend(book, project, key, "r1")
    spend(book, other, other_key, "r2")
    scoped = EmailTarget(("lead@acme.example",), "acme")
    settings = email_settings(inbox.port, OPS, scoped)
    shown = deliver(engine, settings)
    assert [a["state"] for a in shown] == ["delivered", "delivered"]
    by_project = sorted((m["Subject"].rsplit(" ", 1)[1], m["To"]) for m in inbox.messages)
    assert by_project == [
        ("acme", "lead@acme.example"),
        ("acme", OPS.label.split(" (")[0].removeprefix("email ")),
        ("other", "ops@example.com, finance@example.com"),
    ]


def test_the_settings_and_who_holds_the_password(tmp_path: Path) -> None:
    env = {
        "TOLLGATE_ALERT_SMTP_HOST": "smtp.example.com",
        "TOLLGATE_ALERT_SMTP_FROM": "tollgate@example.com",
        "TOLLGATE_ALERT_SMTP_USER": USER,
        "TOLLGATE_ALERT_SMTP_PASSWORD": PASSWORD,
        "TOLLGATE_ALERT_EMAIL_TO": "ops@example.com, cfo@example.com",
    }
    yaml = {"email": {"security": "ssl", "projects": {"acme": ["lead@acme.example"]}}}
    settings = parse_alerts(yaml, env)
    smtp = settings.email
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.security, smtp.user) == (
        "smtp.example.com",
        465,
        "ssl",
        USER,
    )
    assert [(t.to, t.project) for t in smtp.targets] == [
        (("ops@example.com", "cfo@example.com"), ""),
        (("lead@acme.example",), "acme"),
    ]
    assert PASSWORD not in repr(settings)
    assert [c.format for c in settings.channels] == ["email", "email"]
    for bad in (
        {"email": {"host": "h", "from": "not an address"}},
        {"email": {"host": "h", "from": "a@b.c", "security": "tls13"}},
        {"email": {"host": "h", "from": "a@b.c", "to": ["x@y.z\r\nBcc: evil@x.y"]}},
        {"email": {"host": "h", "from": "a@b.c", "password": "in-the-file"}},
    ):
        with pytest.raises(ValueError):
            parse_alerts(bad, {})
    whole = load_settings({"TOLLGATE_HOME": str(tmp_path), **env})
    assert whole.alerts.email is not None
    for service in ("gateway", "router", "metering"):
        assert for_service(whole, service).alerts.email is None
    assert for_service(whole, "budget").alerts.email == whole.alerts.email
    # `tollgate up` hands the password (here named by password_env) to Budget alone.
    named = {**env, "TOLLGATE_ALERT_SMTP_PASSWORD": "", "MAIL_PW": PASSWORD}
    (tmp_path / "mail.yaml").write_text("alerts:\n  email: {password_env: MAIL_PW}\n")
    named["TOLLGATE_CONFIG"] = str(tmp_path / "mail.yaml")
    suite = load_settings({"TOLLGATE_HOME": str(tmp_path), **named})
    assert suite.alerts.email is not None and suite.alerts.email.password == PASSWORD
    for service in ("gateway", "router", "metering"):
        assert PASSWORD not in child_env(suite, service, named).values()
    assert child_env(suite, "budget", named)["MAIL_PW"] == PASSWORD
