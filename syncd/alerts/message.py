"""What an alert says, and how it is shaped for each channel: a plain-text e-mail, a generic JSON body, a
Microsoft Teams Adaptive Card, a Slack Block Kit message. Built only from run facts (counts, group names,
e-mail addresses of people affected, exit codes): never from settings that could hold a secret."""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from syncd import __version__


@dataclass(frozen=True)
class AlertMessage:
    event: str  # one of settings.EVENTS, or "test"
    title: str  # one line: what is wrong
    cost: str  # what it costs: people held, seats blocked ("" when nothing)
    details: tuple[str, ...]  # one line each
    command: str  # the command to look closer
    run_id: str | None
    config: str
    host: str

    @property
    def subject(self) -> str:
        tag = "RECOVERED" if self.event == "recovered" else "TEST" if self.event == "test" else "ALERT"
        return f"[syncd {tag}] {self.title}"

    def text(self) -> str:
        lines = [self.title, ""]
        if self.cost:
            lines += [f"What it costs: {self.cost}", ""]
        lines += [f"  {line}" for line in self.details]
        if self.details:
            lines.append("")
        lines += [
            f"Look closer: {self.command}",
            f"Run: {self.run_id or '(none)'} on {self.host}; config {self.config}",
            f"syncd {__version__}; event {self.event}",
        ]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "title": self.title,
            "cost": self.cost,
            "details": list(self.details),
            "command": self.command,
            "run_id": self.run_id,
            "config": self.config,
            "host": self.host,
            "version": __version__,
        }


def email_message(message: AlertMessage, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    # CRLF line ends; headers folded only past RFC 5322's hard limit (the stdlib folds a long Subject
    # right after "Subject:", which some readers show with a leading space)
    mail = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["X-Syncd-Event"] = message.event
    mail.set_content(message.text())
    return mail


def webhook_body(message: AlertMessage, preset: str) -> dict[str, Any]:
    if preset == "teams":
        return _teams(message)
    if preset == "slack":
        return _slack(message)
    return {"syncd": message.as_dict()}


def _teams(message: AlertMessage) -> dict[str, Any]:
    """An Adaptive Card in the envelope Teams incoming webhooks (Workflows) accept."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": message.subject, "wrap": True}
    ]
    if message.cost:
        body.append({"type": "TextBlock", "text": f"What it costs: {message.cost}", "wrap": True})
    body += [{"type": "TextBlock", "text": line, "wrap": True, "spacing": "None"} for line in message.details]
    body.append(
        {
            "type": "FactSet",
            "facts": [
                {"title": "Look closer", "value": message.command},
                {"title": "Run", "value": f"{message.run_id or '(none)'} on {message.host}"},
                {"title": "Config", "value": message.config},
            ],
        }
    )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _slack(message: AlertMessage) -> dict[str, Any]:
    """Block Kit with a plain `text` fallback (what Slack shows in notifications)."""
    lines = ([f"*What it costs:* {message.cost}"] if message.cost else []) + [
        f"• {line}" for line in message.details
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
    ]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Look closer: `{message.command}` · run {message.run_id or '(none)'} on "
                    f"{message.host}",
                }
            ],
        }
    )
    return {"text": message.subject, "blocks": blocks}
