"""On-prem 7pace (Azure DevOps Server) authenticates with Windows authentication, not tokens (issue 14 item 6):
`[target] auth = "windows"`, an NTLM handshake end to end against the emulator (pyspnego as the acceptor,
requests-ntlm as the client), and the Windows-only "running account" path guarded elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import TimetrackerEmulator
from syncd.targets.timetracker import TimetrackerSettings, parse_settings
from tests.support.configs import USERS_ARE_TEAM, local_target

from .conftest import section, users

SECRET = "Sentinel-ntlm-Passw0rd"
WINDOWS_ACCOUNT = 'auth = "windows"\nuser = "CONTOSO\\\\svc-syncd"\npassword = { file = "password.txt" }'


@pytest.fixture
def onprem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = tmp_path / "ntlm-users"  # what pyspnego's NTLM acceptor checks: DOMAIN:user:password
    store.write_text(f"CONTOSO:svc-syncd:{SECRET}\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(store))
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    people = [*users(3, "Team"), *users(2, "None", start=3)]
    with TimetrackerEmulator(
        people, windows_auth=True, quota_per_second=None, quota_per_minute=None
    ) as emulator:
        yield emulator


def write_config(root: Path, url: str, password: str) -> Path:
    (root / "password.txt").write_text(password, encoding="utf-8")
    (root / "password.txt").chmod(0o600)
    (root / "members.csv").write_text(
        "group,email\n" + "".join(f"Users,user{i:06d}@contoso.example\n" for i in range(5)), encoding="utf-8"
    )
    config = root / "syncd.toml"
    config.write_text(
        f'\n{local_target(url, WINDOWS_ACCOUNT)}\n{USERS_ARE_TEAM}\n[policy]\ngrace = "0s"\n',
        encoding="utf-8",
    )
    return config


def test_an_ntlm_handshake_reads_and_writes_on_prem(onprem, tmp_path, capsys) -> None:
    config = write_config(tmp_path, onprem.onprem_url("DefaultCollection"), SECRET)
    assert main(["run", "-c", str(config)]) == 0
    assert onprem.roles_by_email() == {f"user{i:06d}@contoso.example": "Team" for i in range(5)}
    assert set(onprem.windows_users.values()) == {"CONTOSO\\svc-syncd"}
    # the handshake: a 401 offering NTLM, a 401 carrying the challenge, then the request itself
    assert [r.status for r in onprem.requests[:3]] == [401, 401, 200]
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


def test_a_wrong_password_is_exit_5_in_one_line_without_the_password(onprem, tmp_path, capsys) -> None:
    config = write_config(tmp_path, onprem.onprem_url("DefaultCollection"), "wrong-" + SECRET)
    assert main(["plan", "-c", str(config)]) == 5
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("syncd:")]
    assert len(err) == 1
    assert "refused the credentials (HTTP 401" in err[0]
    assert "check [target] user = 'CONTOSO\\\\svc-syncd' and its password" in err[0]
    assert SECRET not in err[0]
    assert onprem.roles_by_email() == {f"user{i:06d}@contoso.example": "Team" for i in range(3)}


def test_the_auth_default_follows_the_url_form(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("SYNCD_T", "t")
    problems: list[str] = []
    onprem = parse_settings(section({"url": "https://tfs.corp.example:8090/api/DefaultCollection"}, problems))
    cloud = parse_settings(
        section({"url": "https://contoso.timehub.7pace.com", "token": {"env": "SYNCD_T"}}, problems)
    )
    assert (onprem.auth, onprem.user, onprem.password, onprem.token) == ("windows", "", None, None)
    assert cloud.auth == "token"
    assert problems == []
    assert onprem.auth_label == "Windows authentication (NTLM) as the running Windows account"


def test_the_running_account_needs_windows_and_says_so_elsewhere(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    problems: list[str] = []
    parse_settings(section({"url": "https://tfs.corp.example:8090/api/DefaultCollection"}, problems))
    assert problems == [
        'syncd.toml: target.auth: "windows" without user uses the running account\'s credentials, which only '
        "Windows has; elsewhere set user = 'DOMAIN\\name' and password = { env | file | keyring | credential }"
    ]


def test_the_running_account_sends_no_password_from_any_file(monkeypatch) -> None:
    """On Windows, auth = "windows" without user hands requests-ntlm no user and no password: pyspnego then
    uses SSPI's cached credentials of the account the task runs as (a gMSA). Nothing is read from a file."""
    from syncd.targets import timetracker

    monkeypatch.setattr(sys, "platform", "win32")
    problems: list[str] = []
    settings = parse_settings(
        section({"url": "https://tfs.corp.example:8090/api/DefaultCollection"}, problems)
    )
    assert isinstance(settings, TimetrackerSettings) and problems == []
    header, handler, _ = timetracker._credentials(settings)
    assert header is None
    assert (handler.username, handler.password) == (None, None)
