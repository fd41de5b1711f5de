"""Issue 15, item 6: `syncd init` writes a commented starter config from flags or answers, never a secret,
then checks it offline; the result plans against the emulator once the secret is where it points."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main

FLAGS = ["--token-env", "SYNCD_TEST_INIT_TOKEN", "--source-type", "file", "--path", "members.csv"]


def test_init_from_flags_writes_a_config_that_plans(
    world: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.members({"Users": ["u0001@example.com"]})
    out = world.root / "new.toml"
    args = ["init", "--out", str(out), "--target-url", "https://contoso.timehub.7pace.com", *FLAGS]
    assert main([*args, "--group", "Users", "--role", "Team"]) == 0
    text = out.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["target"]["token"] == {"env": "SYNCD_TEST_INIT_TOKEN"}
    assert data["rules"] == [{"source": "main", "group": "Users", "role": "Team"}]
    assert text.startswith("# syncd configuration written by `syncd init`")
    printed = capsys.readouterr().out
    assert "check --offline: " in printed and "is valid" in printed
    assert "to do (not needed offline): " in printed and "SYNCD_TEST_INIT_TOKEN is not set" in printed
    # once the token is where the reference points (and http is allowed for the local emulator), it plans
    local = text.replace("https://contoso.timehub.7pace.com", world.emulator.base_url)
    out.write_text(local.replace("[target]\n", "[target]\nallow_insecure_http = true\n"), encoding="utf-8")
    monkeypatch.setenv("SYNCD_TEST_INIT_TOKEN", world.token)
    assert main(["plan", "-c", str(out)]) == 0
    assert "u0001@example.com" in capsys.readouterr().out
    # an existing file is never overwritten without --force
    assert main([*args, "--group", "Users", "--role", "Team"]) == 2
    assert "exists; choose another --out or add --force" in capsys.readouterr().err


def test_init_refuses_a_pasted_secret_and_names_missing_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no questions
    out = tmp_path / "s.toml"
    pasted = "pat-very-secret-value-abcdefghijklmnopqrstuvwxyz0123"
    code = main(["init", "--out", str(out), "--token-env", pasted, "--source-type", "file"])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "never writes a secret" in err and pasted not in err.replace(f"{pasted!r}", "")
    assert main(["init", "--out", str(out), "--source-type", "file"]) == 2
    err = capsys.readouterr().err
    assert "needs --target-url, --token-env, --path, --group, --role" in err


def test_init_asks_on_a_terminal_with_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = ["https://contoso.timehub.7pace.com", "", "ldap", "", "", "", "", "CN=TT Users,DC=corp", ""]
    monkeypatch.setattr("sys.stdin", Terminal("\n".join(answers) + "\n"))
    monkeypatch.setattr("builtins.input", lambda prompt: __import__("sys").stdin.readline().rstrip("\n"))
    out = tmp_path / "syncd.toml"
    assert main(["init", "--out", str(out)]) == 0
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    (source,) = data["sources"]
    assert source["type"] == "ldap" and source["bind_password"] == {"env": "SYNCD_LDAP_PASSWORD"}
    assert source["url"] == "ldaps://dc1.corp.example.com"
    assert data["rules"][0]["group"] == "CN=TT Users,DC=corp" and data["rules"][0]["role"] == "Team"
    assert "SYNCD_LDAP_PASSWORD is not set" in capsys.readouterr().out
