"""Issue 15, item 2: push alerts against a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS and SMTPS with a
throw-away CA) and an HTTPS webhook receiver (the emulators' server and CA): conditions, de-duplication over
several runs, recovery, a failing channel that does not fail the run, staleness, and `syncd alerts test`."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from syncd.cli import main
from syncd.emulators.http_server import EmulatorServer, Request, Response
from syncd.emulators.tls import TestCA

SMTP_PASSWORD = "sentinel-smtp-password-7d1f"
HOOK_KEY = "sentinel-webhook-key-93ab"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received, and the logins it saw."""

    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            self.logins.append((login, password))
            return AuthResult(success=login == "syncd" and password == SMTP_PASSWORD)
        return AuthResult(success=False, handled=False)

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


@dataclass
class Receiver:
    """An HTTPS webhook receiver: records every POST; answers `status`."""

    url: str
    bodies: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200

    def handle(self, request: Request) -> Response:
        self.bodies.append((request.path, request.json()))
        return Response.json(self.status, {"ok": self.status == 200})


@pytest.fixture(scope="module")
def test_ca() -> TestCA:
    return TestCA()


@contextmanager
def _mail_server(test_ca: TestCA, **tls: Any) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, **tls)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def smtp(test_ca: TestCA) -> Iterator[tuple[Mailbox, int]]:
    with _mail_server(
        test_ca, tls_context=test_ca.server_context(), require_starttls=True, auth_require_tls=True
    ) as server:
        yield server


@pytest.fixture
def smtps(test_ca: TestCA) -> Iterator[tuple[Mailbox, int]]:
    # the whole connection is TLS; aiosmtpd only tracks STARTTLS for its auth_require_tls check
    with _mail_server(test_ca, ssl_context=test_ca.server_context(), auth_require_tls=False) as server:
        yield server


@pytest.fixture
def receiver(test_ca: TestCA) -> Iterator[Receiver]:
    holder: list[Receiver] = []
    server = EmulatorServer(lambda request: holder[0].handle(request), ssl_context=test_ca.server_context())
    server.start()
    holder.append(Receiver(f"{server.base_url}/hooks/{HOOK_KEY}"))
    try:
        yield holder[0]
    finally:
        server.stop()


def users(*numbers: int) -> list[str]:
    return [f"u{n:04d}@example.com" for n in numbers]


def _secret(world: Any, name: str, value: str) -> str:
    path = world.root / name
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)
    return name


def email_alert(
    world: Any, port: int, test_ca: TestCA, *, security: str = "starttls", extra: str = ""
) -> str:
    ca = test_ca.write_ca(world.root / "ca.pem")
    _secret(world, "smtp.txt", SMTP_PASSWORD)
    return f"""
[[alerts]]
name = "ops-mail"
type = "email"
host = "127.0.0.1"
port = {port}
security = "{security}"
from = "syncd@example.com"
to = ["ops@example.com"]
username = "syncd"
password = {{ file = "smtp.txt" }}
ca_bundle = "{ca}"
{extra}
"""


def webhook_alert(
    world: Any, hook: Receiver, test_ca: TestCA, *, preset: str, name: str, extra: str = ""
) -> str:
    ca = test_ca.write_ca(world.root / "ca.pem")
    secret = _secret(world, f"{name}.url", hook.url)
    return f"""
[[alerts]]
name = "{name}"
type = "webhook"
preset = "{preset}"
url = {{ file = "{secret}" }}
ca_bundle = "{ca}"
timeout = 5
{extra}
"""


def _configure(world: Any, alerts: str, rules: Any = None, policy: str = 'grace = "0s"') -> str:
    kwargs = {"rules": rules} if rules is not None else {}
    config = world.write_config(policy=policy, **kwargs)
    config.write_text(config.read_text(encoding="utf-8") + alerts, encoding="utf-8")
    return str(config)


def _alert_events(world: Any) -> list[dict[str, Any]]:
    return [e for e in world.audit() if e["event.action"] == "alert"]


def _all_text(box: Mailbox, hook: Receiver | None = None) -> str:
    text = "".join(m.as_string() for m in box.messages)
    if hook is not None:
        text += json.dumps([b for _, b in hook.bodies])
    return text


def test_held_work_mails_once_then_recovers(
    world: Any, smtp: tuple[Mailbox, int], test_ca: TestCA, capsys: pytest.CaptureFixture[str]
) -> None:
    box, port = smtp
    world.members({"Users": users(1, 2), "Finance": users(3), "Admins": []})
    alerts = email_alert(world, port, test_ca)
    config = _configure(world, alerts, rules=(("Users", "Team"), ("Finance", "Team")))
    assert main(["run", "-c", config]) == 0
    assert box.messages == []  # a healthy run says nothing

    config = _configure(world, alerts, rules=(("Users", "Team"), ("Finanse", "Team")))
    assert main(["run", "-c", config]) == 4
    assert box.subjects() == ["[syncd ALERT] work held: group 'Finanse' of hr (missing) not read cleanly"]
    mail = box.messages[0]
    body = mail.get_content()  # type: ignore[attr-defined]
    assert "What it costs: 1 removal(s)/downgrade(s) held" in body
    assert "hr: Finanse is missing: no rows for group 'Finanse'" in body and "did you mean 'Finance'?" in body
    assert f"Look closer: syncd plan -c {config}" in body
    (run_id,) = {e["syncd.run.id"] for e in _alert_events(world)}
    assert f"Run: {run_id} on " in body
    assert box.logins == [("syncd", SMTP_PASSWORD)]

    # the same condition again: no new mail (interval 24 h)
    assert main(["run", "-c", config]) == 4
    assert len(box.messages) == 1

    # fixed: one "recovered" message closes it; then silence
    config = _configure(world, alerts, rules=(("Users", "Team"), ("Finance", "Team")))
    assert main(["run", "-c", config]) == 0
    assert box.subjects()[1] == (
        "[syncd RECOVERED] recovered: work held: group 'Finanse' of hr (missing) not read cleanly"
    )
    assert main(["run", "-c", config]) == 0
    assert len(box.messages) == 2
    assert SMTP_PASSWORD not in _all_text(box) and world.token not in _all_text(box)
    assert [(e["syncd.alert.event"], e["event.outcome"]) for e in _alert_events(world)] == [
        ("held", "success"),
        ("recovered", "success"),
    ]
    print("--- e-mail as received ---\n" + box.messages[0].as_string())  # pasted into the closing note


def test_a_changed_condition_alerts_at_once_and_the_interval_repeats_it(
    world: Any, smtps: tuple[Mailbox, int], test_ca: TestCA
) -> None:
    box, port = smtps
    world.members({"Users": users(1), "Admins": [], "Finance": users(3), "Audit": users(4)})
    rules = (("Users", "Team"), ("Finance", "Team"), ("Audit", "Team"))
    alerts = email_alert(world, port, test_ca, security="smtps", extra='interval = "1s"\nevents = ["held"]')
    config = _configure(world, alerts, rules=rules)
    assert main(["run", "-c", config]) == 0
    world.members({"Users": users(1), "Admins": [], "Audit": users(4)})  # Finance gone
    assert main(["run", "-c", config]) == 4
    world.members({"Users": users(1), "Admins": []})  # Audit gone too: changed, alerts at once
    assert main(["run", "-c", config]) == 4
    assert len(box.messages) == 2
    assert "'Audit' of hr (missing), 'Finance' of hr (missing)" in box.subjects()[1]
    import time

    time.sleep(1.1)  # the interval passes: the open condition is repeated
    assert main(["run", "-c", config]) == 4
    assert len(box.messages) == 3
    world.members({"Users": users(1), "Admins": [], "Finance": users(3), "Audit": users(4)})
    assert main(["run", "-c", config]) == 0
    assert len(box.messages) == 3  # "recovered" is not among this channel's events


def test_teams_and_slack_webhooks_and_a_failing_channel_never_fail_the_run(
    world: Any, receiver: Receiver, test_ca: TestCA, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": users(1, 2, 3, 4), "Admins": []})
    alerts = (
        webhook_alert(world, receiver, test_ca, preset="teams", name="teams")
        + webhook_alert(world, receiver, test_ca, preset="slack", name="slack")
        + f"""
[[alerts]]
name = "broken-mail"
type = "email"
host = "127.0.0.1"
port = {_free_port()}
from = "syncd@example.com"
to = ["ops@example.com"]
events = ["seat-blocked"]
"""
    )
    config = _configure(world, alerts, policy='grace = "0s"\nseat_limit = 2')
    assert main(["run", "-c", config]) == 0  # seat-blocked by the cap: the policy working, exit 0
    paths = [path for path, _ in receiver.bodies]
    assert paths == [f"/hooks/{HOOK_KEY}"] * 4  # seat-blocked and seat-limit-near, to each of two hooks
    teams = [b for _, b in receiver.bodies if b.get("type") == "message"]
    slack = [b for _, b in receiver.bodies if "blocks" in b]
    assert len(teams) == 2 and len(slack) == 2
    card = teams[0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [item.get("text", "") for item in card["content"]["body"]]
    assert texts[0] == "[syncd ALERT] 2 assignment(s) blocked by the seat limit of 2"
    assert "What it costs: 2 people wait for a seat" in texts
    assert "u0003@example.com" in texts and "u0004@example.com" in texts
    assert slack[0]["text"] == "[syncd ALERT] 2 assignment(s) blocked by the seat limit of 2"
    assert HOOK_KEY not in capsys.readouterr().err
    failed = [e for e in _alert_events(world) if e["event.outcome"] == "failure"]
    assert [(e["syncd.alert.channel"], e["syncd.alert.event"]) for e in failed] == [
        ("broken-mail", "seat-blocked")
    ]
    assert (
        "connection refused" in failed[0]["error.message"].lower()
        or "Connection" in failed[0]["error.message"]
    )
    all_audit = json.dumps(world.audit())
    assert HOOK_KEY not in all_audit and world.token not in all_audit
    print("--- Teams payload as received ---\n" + json.dumps(teams[0], indent=1))  # for the closing note


def test_failed_run_alerts_and_the_next_good_run_recovers(
    world: Any, receiver: Receiver, test_ca: TestCA
) -> None:
    world.members({"Users": users(1), "Admins": []})
    alerts = webhook_alert(world, receiver, test_ca, preset="json", name="hook")
    config = _configure(world, alerts)
    (world.root / "token.txt").write_text("revoked-token", encoding="utf-8")
    assert main(["run", "-c", config]) == 5
    ((_, body),) = receiver.bodies
    assert body["syncd"]["event"] == "failed"
    assert body["syncd"]["title"].startswith("run failed (exit 5): ")
    assert body["syncd"]["run_id"]
    assert "revoked-token" not in json.dumps(body)
    (world.root / "token.txt").write_text(world.token, encoding="utf-8")
    assert main(["run", "-c", config]) == 0
    assert [b["syncd"]["event"] for _, b in receiver.bodies] == ["failed", "recovered"]


def test_stale_is_noticed_at_the_next_start_and_by_status_check_stale(
    world: Any, receiver: Receiver, test_ca: TestCA, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    world.members({"Users": users(1), "Admins": []})
    alerts = webhook_alert(world, receiver, test_ca, preset="json", name="hook", extra='events = ["stale"]')
    config = _configure(world, alerts)
    assert main(["run", "-c", config]) == 0
    capsys.readouterr()
    assert main(["status", "-c", config, "--check-stale"]) == 0
    assert capsys.readouterr().out.startswith("OK: last completed run ")
    # the task stopped running 5 hours ago (default stale_after: 3 × every = 3 h)
    old = (datetime.now(UTC) - timedelta(hours=5)).isoformat()
    (database,) = (world.root / "state").rglob("syncd.sqlite3")  # one folder per target (issue 21)
    with sqlite3.connect(database) as db:
        db.execute("UPDATE runs SET started = ?, finished = ?", (old, old))
    assert main(["status", "-c", config, "--check-stale"]) == 4
    assert capsys.readouterr().out.startswith("STALE: no run has completed for 5.0 h")
    assert main(["run", "-c", config]) == 0
    assert [b["syncd"]["event"] for _, b in receiver.bodies] == ["stale"]  # "recovered" not chosen here
    assert "no run has completed for 5.0 h" in receiver.bodies[0][1]["syncd"]["title"]


def test_alerts_test_sends_to_every_channel(
    world: Any,
    smtp: tuple[Mailbox, int],
    receiver: Receiver,
    test_ca: TestCA,
    capsys: pytest.CaptureFixture[str],
) -> None:
    box, port = smtp
    world.members({"Users": users(1), "Admins": []})
    alerts = email_alert(world, port, test_ca) + webhook_alert(
        world, receiver, test_ca, preset="teams", name="t"
    )
    config = _configure(world, alerts)
    assert main(["alerts", "test", "-c", config]) == 0
    assert capsys.readouterr().out.splitlines() == ["ops-mail: sent", "t: sent"]
    assert box.subjects() == ["[syncd TEST] test message: this channel reaches you"]
    assert len(receiver.bodies) == 1
    receiver.status = 500
    assert main(["alerts", "test", "-c", config]) == 5
    assert "t: not sent: webhook at 127.0.0.1 (teams) answered HTTP 500" in capsys.readouterr().out


def test_email_without_the_ca_is_refused_not_sent_in_clear(
    world: Any, smtp: tuple[Mailbox, int], test_ca: TestCA, capsys: pytest.CaptureFixture[str]
) -> None:
    box, port = smtp
    world.members({"Users": users(1), "Admins": []})
    alerts = email_alert(world, port, test_ca).replace(f'ca_bundle = "{world.root / "ca.pem"}"\n', "")
    config = _configure(world, alerts)
    assert main(["alerts", "test", "-c", config]) == 5
    assert "certificate verify failed" in capsys.readouterr().out
    assert box.messages == []


def test_alert_config_errors_are_one_line_each(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": users(1), "Admins": []})
    bad = """
[[alerts]]
type = "webhook"
url = "https://hooks.example.com/secret-in-the-file"
events = ["held", "everything"]
"""
    config = _configure(world, bad)
    assert main(["check", "-c", config, "--offline"]) == 2
    err = capsys.readouterr().err
    assert "alerts[0].url: secrets must not be written into the config" in err
    assert "'everything' is not an event" in err
    assert "secret-in-the-file" not in err
