"""Issue 15, item 4: errors that help. An unreachable peer fails in seconds with the cause first; the retry
budget is reported as what happened; https:// to a plain-HTTP server says so; an empty secret is a config
error; `status`, `audit` and `check --offline` work without the secrets."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _retarget(config: Path, url: str) -> None:
    text = config.read_text(encoding="utf-8")
    start = text.index('url = "')
    end = text.index('"', start + 7)
    config.write_text(text[:start] + f'url = "{url}"' + text[end + 1 :], encoding="utf-8")


def test_connection_refused_fails_fast_with_the_cause_first(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": ["a@example.com"], "Admins": []})
    config = world.write_config()
    _retarget(config, f"http://127.0.0.1:{_free_port()}")
    started = time.monotonic()
    assert main(["run", "-c", str(config)]) == 5
    assert time.monotonic() - started < 5  # not 31 s of retries
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("syncd: error:")]
    assert line.startswith("syncd: error: connection refused: "), line
    assert "check the URL's port" in line


def test_dns_name_not_known_fails_fast_with_the_cause_first(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": ["a@example.com"], "Admins": []})
    config = world.write_config()
    _retarget(config, "https://syncd-7pace.invalid")
    started = time.monotonic()
    assert main(["plan", "-c", str(config)]) == 5
    assert time.monotonic() - started < 10
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("syncd: error:")]
    assert line.startswith("syncd: error: name not known: "), line
    assert "does not resolve" in line


def test_https_to_a_plain_http_server_says_so(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    world.members({"Users": ["a@example.com"], "Admins": []})
    config = world.write_config()
    _retarget(config, world.emulator.base_url.replace("http://", "https://"))
    assert main(["plan", "-c", str(config)]) == 5
    err = capsys.readouterr().err
    assert "answered plain HTTP, not TLS" in err
    assert "ca_bundle" not in err


def test_an_empty_secret_is_a_config_error(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.members({"Users": ["a@example.com"], "Admins": []})
    config = world.write_config()
    text = config.read_text(encoding="utf-8").replace(
        'token = { file = "token.txt" }', 'token = { env = "SYNCD_TEST_EMPTY_TOKEN" }'
    )
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SYNCD_TEST_EMPTY_TOKEN", "")
    assert main(["plan", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "SYNCD_TEST_EMPTY_TOKEN" in err and "empty" in err
    assert world.emulator.count() == 0


def test_status_audit_and_check_offline_work_without_the_secrets(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    config = world.write_config()
    assert main(["run", "-c", str(config)]) == 0
    (world.root / "token.txt").unlink()
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    assert "Last runs:" in capsys.readouterr().out
    assert main(["audit", "-c", str(config), "--user", "u0001@example.com"]) == 0
    assert "seat-assign" in capsys.readouterr().out
    assert main(["check", "-c", str(config), "--offline"]) == 0
    assert main(["run", "-c", str(config)]) == 2  # a run needs it, and says so
    assert "token.txt" in capsys.readouterr().err


def test_a_missing_group_lists_the_closest_names_the_source_has(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Finance": ["a@example.com"], "Facilities": [], "Users": [], "Admins": []})
    config = str(world.write_config(rules=(("Finanse", "Team"),)))
    assert main(["plan", "-c", config]) == 4
    out = capsys.readouterr().out
    assert "did you mean 'Finance'?" in out


def test_members_without_a_usable_email_are_named_in_the_json_and_at_v(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.members({"Users": ["u0001@example.com", "not-an-address"], "Admins": []})
    config = str(world.write_config())
    assert main(["-v", "plan", "-c", config, "--format", "json"]) == 0
    captured = capsys.readouterr()
    import json

    plan = json.loads(captured.out)
    assert plan["unidentified"] == 1
    (member,) = plan["unidentified_members"]
    assert member["source"] == "hr" and member["group"] == "Users"
    assert member["id"].endswith("members.csv:4") and "'not-an-address' is not an e-mail" in member["detail"]
    assert "member without a usable e-mail" in captured.err and "members.csv:4" in captured.err
