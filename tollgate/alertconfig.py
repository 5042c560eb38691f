"""Alert settings: the webhooks alerts go to, how delivery retries, and when a spend
spike counts as one.

Webhooks live in configuration, not in the database: their URLs carry credentials
(a Slack hook path, a DingTalk access_token, a WeCom key), and secrets stay out of
the database. They come from `TOLLGATE_ALERT_WEBHOOKS` (a comma list of `url` or
`format=url`) and from the YAML `alerts.webhooks` list (`url` or `url_env`,
`format`, optional `project`, optional `secret`/`secret_env` for signed DingTalk
and Feishu robots). Every other setting is `alerts.<name>` in the YAML, overridden
by `TOLLGATE_ALERT_<NAME>` in the environment. E-mail alerts (`alerts.email`, an SMTP
server and its recipients) are in emailconfig.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from tollgate.emailconfig import EmailConfigError, EmailSettings, EmailTarget, parse_email

WEBHOOK_FORMATS = ("generic", "slack", "dingtalk", "feishu", "wecom")


@dataclass(frozen=True)
class WebhookConfig:
    url: str = field(repr=False)
    format: str = "generic"
    project: str = ""  # a project name or id; empty: every project
    secret: str = field(default="", repr=False)  # signing secret (dingtalk, feishu)

    @property
    def fingerprint(self) -> str:
        """Names the webhook in logs and the delivery log without revealing its URL."""
        return "wh-" + hashlib.sha256(self.url.encode()).hexdigest()[:10]

    @property
    def label(self) -> str:
        """The URL cut to scheme and host: paths and queries may hold credentials."""
        parts = urlsplit(self.url)
        return f"{self.format} {parts.scheme}://{parts.hostname or '?'}/… ({self.fingerprint})"

    def applies_to(self, project_id: str, project_name: str) -> bool:
        return not self.project or self.project in (project_id, project_name)


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[WebhookConfig, ...] = ()
    # Delivery: attempt n (from 1) that fails waits backoff * 2**(n-1), at most max_backoff.
    delivery_interval_seconds: float = 2.0
    max_attempts: int = 6
    backoff_seconds: float = 5.0
    max_backoff_seconds: float = 600.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 120.0
    # Spikes: spend in the last window against the window-average of the baseline before it.
    spike_factor: Decimal = Decimal(10)  # 0 turns spike alerts off
    spike_window_seconds: int = 300
    spike_baseline_seconds: int = 3600
    spike_min_amount: Decimal = Decimal(1)  # in the project's currency
    spike_min_requests: int = 10
    spike_check_seconds: float = 60.0
    spike_pause_keys: bool = False
    # Key expiry reminders: days before a key expires (each sent once); empty: none.
    key_expiry_reminder_days: tuple[int, ...] = (7, 1)
    key_expiry_check_seconds: float = 300.0
    email: EmailSettings | None = None  # alerts by e-mail too (emailconfig.py)

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Every delivery target: the webhooks, then the e-mail recipient lists."""
        return (*self.webhooks, *(self.email.targets if self.email else ()))


Channel = WebhookConfig | EmailTarget


class AlertConfigError(ValueError):
    pass


def _webhook(item: Any, env: Mapping[str, str], where: str) -> WebhookConfig:
    if isinstance(item, str):
        item = {"url": item}
    if not isinstance(item, dict):
        raise AlertConfigError(f"{where}: must be a URL or a mapping with url and format")
    url = str(item.get("url") or "")
    if item.get("url_env"):
        url = env.get(str(item["url_env"]), "")
        if not url:
            raise AlertConfigError(f"{where}.url_env: {item['url_env']} is not set")
    secret = str(item.get("secret") or "")
    if item.get("secret_env"):
        secret = env.get(str(item["secret_env"]), "")
    kind = str(item.get("format", "generic"))
    if kind not in WEBHOOK_FORMATS:
        raise AlertConfigError(
            f"{where}.format: {kind!r} is not one of {', '.join(WEBHOOK_FORMATS)}"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL: it may hold a credential.
        raise AlertConfigError(f"{where}.url: must be an http(s) URL")
    return WebhookConfig(url, kind, str(item.get("project") or ""), secret)


def _env_webhooks(text: str) -> list[WebhookConfig]:
    hooks = []
    for i, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        # `format=url`, or a bare URL (whose query may hold `=` itself).
        kind, _, rest = entry.partition("=")
        item = {"url": rest, "format": kind} if kind in WEBHOOK_FORMATS else {"url": entry}
        hooks.append(_webhook(item, {}, f"TOLLGATE_ALERT_WEBHOOKS[{i}]"))
    return hooks


def _coerce(name: str, kind: type, value: Any) -> Any:
    try:
        if kind is bool:
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if kind is Decimal:
            result = Decimal(str(value))  # str(): a YAML float keeps its written digits
        else:
            result = kind(value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise AlertConfigError(f"alerts.{name}: {value!r} is not a {kind.__name__}") from exc
    if isinstance(result, Decimal) and not result.is_finite():
        raise AlertConfigError(f"alerts.{name}: {value!r} must be a finite number")
    if result < 0:
        raise AlertConfigError(f"alerts.{name}: {value!r} must not be negative")
    return result


def _days(value: Any) -> tuple[int, ...]:
    """`7,1` or [7, 1]: whole days from 1 to 365, largest first."""
    items = str(value).split(",") if isinstance(value, str | int) else value
    try:
        days = sorted({int(str(d).strip()) for d in items if str(d).strip()}, reverse=True)
    except (TypeError, ValueError):
        raise AlertConfigError(f"alerts.key_expiry_reminder_days: {value!r}") from None
    if any(not 1 <= d <= 365 for d in days):
        raise AlertConfigError("alerts.key_expiry_reminder_days: whole days from 1 to 365")
    return tuple(days)


def parse_alerts(data: Any, env: Mapping[str, str]) -> AlertSettings:
    """The `alerts:` YAML section (or None) with its environment overrides."""
    data = data or {}
    if not isinstance(data, dict):
        raise AlertConfigError("alerts: must be a mapping")
    hooks = _env_webhooks(env.get("TOLLGATE_ALERT_WEBHOOKS", ""))
    listed = data.get("webhooks") or []
    if not isinstance(listed, list):
        raise AlertConfigError("alerts.webhooks: must be a list")
    hooks += [_webhook(item, env, f"alerts.webhooks[{i}]") for i, item in enumerate(listed)]
    try:
        email = parse_email(data.get("email"), env)
    except EmailConfigError as exc:
        raise AlertConfigError(str(exc)) from None
    values: dict[str, Any] = {
        "webhooks": tuple(hooks),
        "email": email,
        "key_expiry_reminder_days": _days(
            env.get("TOLLGATE_ALERT_KEY_EXPIRY_REMINDER_DAYS", "").strip()
            or data.get("key_expiry_reminder_days", (7, 1))
        ),
    }
    defaults = AlertSettings()
    for spec in fields(AlertSettings):
        if spec.name in values:
            continue
        raw = env.get(f"TOLLGATE_ALERT_{spec.name.upper()}", "").strip() or data.get(spec.name)
        if raw is not None and raw != "":
            values[spec.name] = _coerce(spec.name, type(getattr(defaults, spec.name)), raw)
    settings = AlertSettings(**values)
    if settings.max_attempts < 1:
        raise AlertConfigError("alerts.max_attempts: must be at least 1")
    if settings.spike_min_requests < 2:
        raise AlertConfigError("alerts.spike_min_requests: must be at least 2")
    if settings.spike_window_seconds < 1 or settings.spike_baseline_seconds < 1:
        raise AlertConfigError("alerts.spike_window_seconds and spike_baseline_seconds: >= 1")
    return settings
