"""One alert as one e-mail to one list of recipients, over SMTP (STARTTLS, implicit
TLS or plain), sent by the delivery worker like a webhook's POST: a failure is an
`Outcome` to retry, never an exception, and never slows a settlement (events are only
recorded on the hot path; the worker thread sends them).

The subject names the kind and the project; the body is the alert's message, then
its fields one a line (project, threshold, spend, budget, period), amounts as exact
decimal strings. Errors never carry the SMTP password."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from services.budget.alerts.webhooks import Alert, Outcome
from tollgate.emailconfig import EmailSettings, EmailTarget

SUBJECTS = {
    "threshold": "budget threshold reached",
    "spike": "spend spike",
    "downgrade": "model downgrade",
    "operator": "operator alert",
    "test": "test alert",
    "key_expiry": "API key expires soon",
}


def message(alert: Alert, settings: EmailSettings, target: EmailTarget) -> EmailMessage:
    mail = EmailMessage()
    what = SUBJECTS.get(alert.kind, alert.kind)
    mail["Subject"] = f"[tollgate] {what}: project {alert.project}"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(target.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    lines = [alert.message, "", f"Project: {alert.project} ({alert.project_id})"]
    if alert.key_id:
        lines.append(f"Key: {alert.key_id}")
    if alert.kind == "threshold":
        lines.append(f"Threshold: {alert.threshold}%")
    if alert.kind in ("threshold", "spike", "downgrade"):
        lines.append(f"Spend: {alert.currency} {alert.amount}")
    if alert.limit is not None:
        lines.append(f"Budget: {alert.currency} {alert.limit}")
    if alert.period:
        lines.append(f"Period: {alert.period} {alert.period_key}".rstrip())
    lines += [f"Alert: #{alert.id} ({alert.kind}) at {alert.created_at}", ""]
    mail.set_content("\n".join(lines))
    return mail


def _scrub(text: str, settings: EmailSettings) -> str:
    if settings.password and len(settings.password) > 1:
        text = text.replace(settings.password, "…")
    return text[:500]


def send_email(
    settings: EmailSettings, target: EmailTarget, alert: Alert, timeout: float
) -> Outcome:
    mail = message(alert, settings, target)
    tls = ssl.create_default_context(cafile=settings.ca_file or None)
    try:
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=tls)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=tls)
            if settings.user:
                smtp.login(settings.user, settings.password)
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        code = getattr(exc, "smtp_code", None)
        return Outcome(
            False,
            code if isinstance(code, int) else None,
            _scrub(f"{type(exc).__name__}: {exc}", settings),
        )
    if refused:
        return Outcome(False, None, f"refused recipients: {', '.join(sorted(refused))}"[:500])
    return Outcome(True, 250)
