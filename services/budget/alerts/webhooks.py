"""One POST of one alert to one webhook, in the webhook's own body format.

Chat robots (DingTalk, Feishu/Lark, WeCom) answer HTTP 200 even when they refuse a
message, with an error code in the JSON body; that counts as a failure here. The URL
may hold a credential, so errors and logs name a webhook by its label only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx

from tollgate.alertconfig import WebhookConfig


@dataclass(frozen=True)
class Alert:
    """The fields of an event that a webhook receives."""

    id: int
    kind: str
    project_id: str
    project: str
    key_id: str | None
    budget_id: int | None
    period: str
    period_key: str
    threshold: int
    limit: str | None  # exact decimal strings, never floats
    baseline: str | None
    amount: str
    currency: str
    message: str
    created_at: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None


def body(alert: Alert, fmt: str) -> dict[str, Any]:
    text = alert.message
    if fmt == "slack":
        return {"text": text}
    if fmt in ("dingtalk", "wecom"):
        return {"msgtype": "text", "text": {"content": text}}
    if fmt == "feishu":
        return {"msg_type": "text", "content": {"text": text}}
    return {"event": "tollgate.alert", **alert.__dict__}


def signed(
    hook: WebhookConfig, url: str, payload: dict[str, Any], now: float
) -> tuple[str, dict[str, Any]]:
    """Add a signed robot's timestamp and signature (DingTalk: to the query; Feishu:
    to the body), each as that platform documents it."""
    if not hook.secret:
        return url, payload
    if hook.format == "dingtalk":
        stamp = str(int(now * 1000))
        digest = hmac.new(hook.secret.encode(), f"{stamp}\n{hook.secret}".encode(), hashlib.sha256)
        sign = quote_plus(base64.b64encode(digest.digest()).decode())
        joiner = "&" if urlsplit(url).query else "?"
        return f"{url}{joiner}timestamp={stamp}&sign={sign}", payload
    if hook.format == "feishu":
        stamp = str(int(now))
        digest = hmac.new(f"{stamp}\n{hook.secret}".encode(), b"", hashlib.sha256)
        return url, {
            "timestamp": stamp,
            "sign": base64.b64encode(digest.digest()).decode(),
            **payload,
        }
    return url, payload


def _robot_error(fmt: str, response: httpx.Response) -> str | None:
    """The error a chat robot reports inside a 2xx answer, if any."""
    if fmt not in ("dingtalk", "feishu", "wecom"):
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    for code_field, msg_field in (
        ("errcode", "errmsg"),
        ("code", "msg"),
        ("StatusCode", "StatusMessage"),
    ):
        code = answer.get(code_field)
        if code not in (None, 0):
            return f"{fmt} error {code}: {str(answer.get(msg_field, ''))[:200]}"
    return None


def scrub(text: str, hook: WebhookConfig) -> str:
    """Cut the URL's path and query (where credentials live) out of an error message."""
    parts = urlsplit(hook.url)
    for secret in (hook.url, parts.path, parts.query, hook.secret):
        if secret and len(secret) > 1:
            text = text.replace(secret, "…")
    return text[:500]


def send(client: httpx.Client, hook: WebhookConfig, alert: Alert) -> Outcome:
    url, payload = signed(hook, hook.url, body(alert, hook.format), time.time())
    try:
        response = client.post(
            url,
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
        )
    except httpx.HTTPError as exc:
        return Outcome(False, None, scrub(f"{type(exc).__name__}: {exc}", hook))
    if not 200 <= response.status_code < 300:
        return Outcome(False, response.status_code, f"HTTP {response.status_code}")
    error = _robot_error(hook.format, response)
    if error:
        return Outcome(False, response.status_code, scrub(error, hook))
    return Outcome(True, response.status_code)
