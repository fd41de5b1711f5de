"""`[[alerts]]`: where a run that is not well is reported (e-mail over SMTP, an HTTPS webhook) and which
conditions each channel hears. Parsed and checked at load like every other table; secrets are references."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from syncd.config_section import Section
from syncd.http import HttpOptions, read_http_options
from syncd.identity import normalise_email
from syncd.secrets import SecretRef

EVENTS = ("guard-stop", "held", "seat-blocked", "seat-limit-near", "failed", "recovered", "stale")
"""What a channel can hear. `recovered` closes any condition the channel was told about."""

PRESETS = ("json", "teams", "slack")
SECURITY = ("starttls", "smtps")


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    security: Literal["starttls", "smtps"]
    sender: str
    recipients: tuple[str, ...]
    username: str | None
    password: SecretRef | None
    ca_bundle: Path | None
    timeout: float


@dataclass(frozen=True)
class WebhookSettings:
    url: SecretRef  # an incoming-webhook URL carries its own key: a credential, never written in the file
    preset: Literal["json", "teams", "slack"]
    http: HttpOptions


@dataclass(frozen=True)
class AlertSettings:
    name: str
    type: Literal["email", "webhook"]
    events: frozenset[str]
    interval: timedelta  # an open condition is repeated after this long (or at once when it changes)
    seat_limit_near_percent: float
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None


def parse_alerts(root: Section) -> tuple[AlertSettings, ...]:
    alerts: list[AlertSettings] = []
    seen: set[str] = set()
    for index, section in enumerate(root.sections("alerts")):
        kind = section.str("type", choices=("email", "webhook"))
        name = section.str("name", f"alerts[{index}]")
        if name in seen:
            section.error("name", f"duplicate alert name {name!r}; each [[alerts]] needs its own name")
        seen.add(name)
        events = section.str_list("events", list(EVENTS))
        for event in events:
            if event not in EVENTS:
                section.error("events", f"{event!r} is not an event; choose from {', '.join(EVENTS)}")
        interval = section.duration("interval", "24h") or timedelta(hours=24)
        near = section.number("seat_limit_near_percent", 90.0, minimum=1.0)
        if near > 100:
            section.error("seat_limit_near_percent", f"{near:g} is out of range: between 1 and 100")
        email = _parse_email(section) if kind == "email" else None
        webhook = _parse_webhook(section) if kind == "webhook" else None
        section.finish()
        if kind:
            alerts.append(
                AlertSettings(
                    name,
                    "email" if kind == "email" else "webhook",
                    frozenset(events),
                    interval,
                    near,
                    email,
                    webhook,
                )
            )
    return tuple(alerts)


def _parse_email(section: Section) -> EmailSettings:
    host = section.str("host", expected="the SMTP server's host name")
    security = section.str("security", "starttls", choices=SECURITY)
    port = section.int("port", 465 if security == "smtps" else 587, minimum=1)
    sender = section.str("from", expected="the sender's e-mail address")
    recipients = section.str_list("to")
    if not recipients and not section.has("to"):
        section.error("to", "required (an array of e-mail addresses)")
    for address in (sender, *recipients):
        if address and normalise_email(address) is None:
            section.error("to" if address in recipients else "from", f"{address!r} is not an e-mail address")
    username = section.optional_str("username", expected="the SMTP login name")
    password = section.secret("password", required=False)
    if password is not None and username is None:
        section.error("username", "required when password is set")
    ca_bundle = section.path("ca_bundle", kind="file")
    timeout = section.number("timeout", 30.0, minimum=1.0)
    return EmailSettings(
        host,
        port,
        "smtps" if security == "smtps" else "starttls",
        sender,
        recipients,
        username,
        password,
        ca_bundle,
        timeout,
    )


def _parse_webhook(section: Section) -> WebhookSettings | None:
    url = section.secret("url")
    preset = section.str("preset", "json", choices=PRESETS)
    http = read_http_options(section)
    if url is None:
        return None
    shape: Literal["json", "teams", "slack"] = (
        "teams" if preset == "teams" else "slack" if preset == "slack" else "json"
    )
    return WebhookSettings(url, shape, http)
