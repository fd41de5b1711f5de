"""Through the CLI against the Azure DevOps Server emulator, identities serialised as the server does (no false
flags): an inactive identity gets no seat, and a Windows group the server lists without members holds the
seats of its real members (partial) instead of removing them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.tls import TestCA

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Cloud

TOKEN = "sentinel-7pace-token-server-e2e"
WINDOWS_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"


@pytest.fixture
def timetracker(test_ca: TestCA) -> Iterator[TimetrackerEmulator]:
    users = [EmulatedUser(f"{name}@corp.example") for name in ("ann", "old")]
    users.append(EmulatedUser("dev@corp.example", "Team"))  # a member of the AD group Engineers, seated
    emulator = TimetrackerEmulator(
        users, token=TOKEN, quota_per_second=None, quota_per_minute=None, ssl_context=test_ca.server_context()
    )
    with emulator:
        yield emulator


def _config(cloud: Cloud, timetracker: TimetrackerEmulator) -> Path:
    token = cloud.folder / "token.txt"
    token.write_text(TOKEN)
    token.chmod(0o600)
    cloud.secret_file("pat.txt", cloud.pat)
    path = cloud.folder / "syncd.toml"
    path.write_text(
        f"""
[target]
url = "{timetracker.base_url}"
token = {{ file = "token.txt" }}
ca_bundle = "ca.pem"

[[sources]]
name = "tfs"
type = "azure_devops"
server_url = "{cloud.ado.collection_url}"
pat = {{ file = "pat.txt" }}
ca_bundle = "ca.pem"

[[rules]]
source = "tfs"
group = "[contoso]\\\\Timetracker Users"
role = "Team"

[policy]
unmanaged = "remove"
grace = "0s"
""",
        encoding="utf-8",
    )
    return path


def _plan(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["plan", "-c", str(config), "--format", "json"])
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_an_inactive_identity_gets_no_seat(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ado = cloud.ado_dir
    users = ado.add_group("Timetracker Users")
    ado.add_member(users, ado.add_user("ann@corp.example", principal_name="CORP\\ann", origin="ad"))
    ado.add_member(
        users, ado.add_user("old@corp.example", principal_name="CORP\\old", origin="ad", active=False)
    )
    ado.add_member(users, ado.add_user("dev@corp.example", principal_name="CORP\\dev", origin="ad"))

    plan = _plan(_config(cloud, timetracker), capsys)

    assert [g["health"] for g in plan["groups"]] == ["ok"]
    assert {c["email"]: c["action"] for c in plan["changes"]} == {"ann@corp.example": "seat-assign"}


def test_a_windows_group_listed_without_members_holds_their_seats(
    cloud: Cloud, timetracker: TimetrackerEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ado = cloud.ado_dir
    users = ado.add_group("Timetracker Users")
    ado.add_member(users, ado.add_user("ann@corp.example", principal_name="CORP\\ann", origin="ad"))
    # dev is in the AD group Engineers, but the server's periodic AD copy has not caught up: no members listed
    ado.add_member(users, ado.add_windows_group("Engineers", WINDOWS_SID, listed=[]))

    plan = _plan(_config(cloud, timetracker), capsys)

    [group] = plan["groups"]
    assert group["health"] == "partial", group
    assert "Windows group CORP\\Engineers" in group["detail"] and "expand_windows_with" in group["detail"]
    assert "dev@corp.example" not in {c["email"] for c in plan["changes"]}, "a seat removed on a short read"
    assert {h["email"]: h["cause"] for h in plan["held"]} == {"dev@corp.example": "partial"}
    assert {c["email"]: c["action"] for c in plan["changes"]} == {"ann@corp.example": "seat-assign"}
