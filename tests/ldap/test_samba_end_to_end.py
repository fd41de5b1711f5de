"""End to end: Samba AD DC → `syncd plan/apply` (in-process `main`) → the 7pace emulator → re-plan empty.

Then the directory changes (a member removed from a nested group, a user disabled) and the next apply
follows; a DC that cannot be reached changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, NONE, Connection, Server

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from tests.support.configs import local_target
from tests.support.world import write_token

pytestmark = pytest.mark.samba

TOKEN = "e2e-7pace-token-ldap"
PASSWORD_ENV = "SYNCD_E2E_LDAP_PASSWORD"


@pytest.fixture
def dc(second_dc: Any) -> Any:
    """A DC of our own (on 127.0.0.2): these tests change the directory."""
    return second_dc


@pytest.fixture
def emulator(dataset: ModuleType) -> Iterator[TimetrackerEmulator]:
    # the 7pace organisation knows everyone syncd may seat, plus people it must leave alone
    keys = {dataset.expected_key(i) for i in range(dataset.USERS)} - {None}
    users = [EmulatedUser(key) for key in sorted(keys)]
    users.append(EmulatedUser("outsider@partner.example.net", "Team"))  # seated by hand: unmanaged, kept
    with TimetrackerEmulator(users, token=TOKEN, quota_per_second=None, quota_per_minute=None) as running:
        yield running


def write_config(
    root: Path, dc: Any, emulator: TimetrackerEmulator, dataset: ModuleType, url: str = ""
) -> Path:
    write_token(root, TOKEN)
    source = dc.source_toml(
        bind_user=dataset.SERVICE_USER, password_env=PASSWORD_ENV, base_dn=dataset.BASE_DN
    )
    config = root / "syncd.toml"
    config.write_text(
        local_target(emulator.base_url)
        + source
        + f"""
[[rules]]
source = "corp"
group = "GroupA"
role = "Team"

[[rules]]
source = "corp"
group = "{dataset.group_dn("PrimaryOuter")}"
role = "Administrator"

[policy]
grace = "0s"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def config(
    tmp_path: Path,
    dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    monkeypatch.setenv(PASSWORD_ENV, dataset.SERVICE_PASSWORD)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return str(write_config(tmp_path, dc, emulator, dataset))


def expected_roles(dataset: ModuleType) -> dict[str, str]:
    roles = {key: "Team" for key, enabled in dataset.expected_members("GroupA").items() if enabled}
    roles |= {
        key: "Administrator" for key, enabled in dataset.expected_members("PrimaryOuter").items() if enabled
    }
    return roles | {"outsider@partner.example.net": "Team"}


def test_samba_to_7pace_apply_then_replan_is_empty(
    config: str,
    tmp_path: Path,
    dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:

    assert main(["check", "-c", config]) == 0
    out = capsys.readouterr().out
    members = dataset.expected_members("GroupA")
    disabled = sum(1 for enabled in members.values() if not enabled)
    assert (len(members), disabled) == (156, 16)
    assert "ok    rules[0] corp: GroupA: ok, 156 member(s), 16 disabled, 4 without e-mail\n" in out
    assert main(["apply", "-c", config]) == 0
    assert emulator.roles_by_email() == expected_roles(dataset)
    assert emulator.roles_by_email()["user00311@example.com"] == "Administrator"  # primary-group path
    assert emulator.roles_by_email()["user00249@example.com"] == "Team"  # third nesting level
    assert "user00000@example.com" not in emulator.roles_by_email()  # disabled
    capsys.readouterr()

    assert main(["plan", "-c", config, "--format", "json", "--detailed-exitcode"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["changes"] == []

    # every change said which rule and nested path selected the person
    audit = [
        json.loads(line)
        for path in sorted((tmp_path / "logs").glob("audit-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assigned = [e for e in audit if e.get("event.action") == "seat-assign"]
    assert len(assigned) == len(expected_roles(dataset)) - 1, sorted(
        {str(e.get("event.action")) for e in audit}
    )
    deep = next(e for e in assigned if str(e.get("user.target.email")).casefold() == "user00211@example.com")
    assert (deep["event.action"], deep["syncd.rule"], deep["group.name"], deep["syncd.via"]) == (
        "seat-assign",
        "rules[0]",
        "GroupA",
        ["GroupB", "GroupC"],
    )

    # the directory changes: user00151 leaves GroupB, user00001 is disabled
    assert emulator.roles_by_email()["user00151@example.com"] == "Team"
    assert emulator.roles_by_email()["user00001@example.com"] == "Team"
    admin = Connection(
        Server(dc.host, 389, get_info=NONE),
        "CN=Administrator,CN=Users," + dataset.BASE_DN,
        "Passw0rd!Test",
        auto_bind=True,
        raise_exceptions=True,
    )
    admin.modify(dataset.group_dn("GroupB"), {"member": [(MODIFY_DELETE, [dataset.user_dn(151)])]})
    admin.modify(dataset.user_dn(1), {"userAccountControl": [(MODIFY_REPLACE, ["514"])]})
    admin.unbind()
    assert main(["apply", "-c", config]) == 0
    roles = emulator.roles_by_email()
    assert "user00151@example.com" not in roles and "user00001@example.com" not in roles
    assert roles == {
        k: v
        for k, v in expected_roles(dataset).items()
        if k not in ("user00151@example.com", "user00001@example.com")
    }
    capsys.readouterr()
    assert main(["plan", "-c", config, "--detailed-exitcode"]) == 0


def test_unreachable_dc_changes_nothing_exit_5(
    config: str,
    tmp_path: Path,
    dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["apply", "-c", config]) == 0
    seated = emulator.roles_by_email()
    dc.kill()
    assert main(["apply", "-c", config]) == 5
    assert "connecting to ldaps://127.0.0.2:636 failed: connection refused" in capsys.readouterr().err
    assert emulator.roles_by_email() == seated
