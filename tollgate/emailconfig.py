"""E-mail alerts: the SMTP server Budget sends alert e-mails through, and who gets them.

Beside the webhooks, alerts may go out as e-mails. One SMTP server (`host`, `port`,
`from`, `security`: starttls, ssl or none; `user` and `password`, the password only
from the environment) and any number of recipient lists, each for every project or for
one. From the YAML:

    alerts:
      email:
        host: smtp.example.com
        port: 587
        from: tollgate@example.com
        security: starttls          # or ssl (port 465), or none
        user: tollgate
        password_env: SMTP_PASSWORD
        to: [ops@example.com]       # every project's alerts
        projects:                   # and these projects' to their own people too
          acme: [acme-leads@example.com]

or the environment: TOLLGATE_ALERT_SMTP_HOST, _PORT, _FROM, _SECURITY, _USER,
_PASSWORD and TOLLGATE_ALERT_EMAIL_TO (a comma list), which win over the YAML.
Like a webhook, a recipient list is a delivery target of its own, named by a
fingerprint (`em-...`), with its own attempts and retries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
MAX_RECIPIENTS = 50
# Enough of RFC 5321 to refuse a typo or a header injection, not to judge a mailbox.
_ADDRESS = re.compile(r"[^@\s,;<>\"'()\x00-\x1f]{1,64}@[A-Za-z0-9.-]{1,255}")


class EmailConfigError(ValueError):
    pass


@dataclass(frozen=True)
class EmailTarget:
    """One list of recipients: a delivery target like a webhook."""

    to: tuple[str, ...]
    project: str = ""  # a project name or id; empty: every project
    format: str = "email"

    @property
    def fingerprint(self) -> str:
        return "em-" + hashlib.sha256(",".join(self.to).encode()).hexdigest()[:10]

    @property
    def label(self) -> str:
        return f"email {', '.join(self.to)} ({self.fingerprint})"[:200]

    def applies_to(self, project_id: str, project_name: str) -> bool:
        return not self.project or self.project in (project_id, project_name)


@dataclass(frozen=True)
class EmailSettings:
    host: str
    sender: str
    port: int = 587
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    targets: tuple[EmailTarget, ...] = ()
    # A CA bundle for an SMTP server with a private certificate; empty: the system's.
    ca_file: str = ""


def _address(value: Any, where: str) -> str:
    text = str(value).strip()
    if not _ADDRESS.fullmatch(text):
        raise EmailConfigError(f"{where}: {text!r} is not an e-mail address")
    return text


def _addresses(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise EmailConfigError(f"{where}: must be a list of e-mail addresses")
    found = tuple(_address(item, where) for item in items if str(item).strip())
    if len(found) > MAX_RECIPIENTS:
        raise EmailConfigError(f"{where}: at most {MAX_RECIPIENTS} addresses")
    return found


def parse_email(data: Any, env: Mapping[str, str]) -> EmailSettings | None:
    """The `alerts.email` YAML section (or None) with its environment overrides; None
    when no SMTP host is configured."""
    data = data or {}
    if not isinstance(data, dict):
        raise EmailConfigError("alerts.email: must be a mapping")

    def setting(name: str, env_name: str) -> str:
        return (env.get(env_name, "").strip() or str(data.get(name) or "")).strip()

    host = setting("host", "TOLLGATE_ALERT_SMTP_HOST")
    if not host:
        return None
    security = (setting("security", "TOLLGATE_ALERT_SMTP_SECURITY") or "starttls").lower()
    if security not in SECURITIES:
        raise EmailConfigError(f"alerts.email.security: one of {', '.join(SECURITIES)}")
    port_text = setting("port", "TOLLGATE_ALERT_SMTP_PORT")
    if port_text and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise EmailConfigError("alerts.email.port: a port number from 1 to 65535")
    port = int(port_text) if port_text else DEFAULT_PORTS[security]
    sender = _address(setting("from", "TOLLGATE_ALERT_SMTP_FROM"), "alerts.email.from")
    password = env.get("TOLLGATE_ALERT_SMTP_PASSWORD", "")
    if not password and data.get("password_env"):
        password = env.get(str(data["password_env"]), "")
    if data.get("password"):
        raise EmailConfigError(
            "alerts.email.password: keep the password out of the file: use password_env "
            "or TOLLGATE_ALERT_SMTP_PASSWORD"
        )
    env_to = env.get("TOLLGATE_ALERT_EMAIL_TO", "").strip()
    shared = _addresses(env_to or data.get("to") or [], "alerts.email.to")
    targets = [EmailTarget(shared)] if shared else []
    projects = data.get("projects") or {}
    if not isinstance(projects, dict):
        raise EmailConfigError("alerts.email.projects: a mapping of project to addresses")
    for project, listed in projects.items():
        to = _addresses(listed, f"alerts.email.projects.{project}")
        if to:
            targets.append(EmailTarget(to, str(project)))
    return EmailSettings(
        host=host,
        sender=sender,
        port=port,
        security=security,
        user=setting("user", "TOLLGATE_ALERT_SMTP_USER"),
        password=password,
        targets=tuple(targets),
        ca_file=setting("ca_file", "TOLLGATE_ALERT_SMTP_CA_FILE"),
    )
