"""Through the CLI against the Samba DC: accounts that cannot sign in (accountExpires) get no new seat and
lose an existing one only by the grace rules, with the expiry time in the reason; and a member of a nested
group outside a narrowed base_dn makes the group partial instead of silently losing their seat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import MODIFY_REPLACE

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from tests.support.configs import local_target
from tests.support.world import write_token

pytestmark = pytest.mark.samba

TOKEN = "issue22-7pace-token-ldap"
PASSWORD_ENV = "SYNCD_I22_LDAP_PASSWORD"


def _config(
    root: Path,
    dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    base_dn: str,
    rule: str,
    policy: str,
) -> str:
    """A config with one ldap source (`base_dn`), one rule (`rule` → Team) and the [policy] lines given."""
    write_token(root, TOKEN)
    config = root / "syncd.toml"
    config.write_text(
        local_target(emulator.base_url)
        + f"""
{dc.source_toml(bind_user=dataset.SERVICE_USER, password_env=PASSWORD_ENV, base_dn=base_dn)}
[[rules]]
source = "corp"
group = "{rule}"
role = "Team"

[policy]
{policy}
""",
        encoding="utf-8",
    )
    return str(config)


@pytest.fixture
def emulator(dataset: ModuleType) -> Iterator[TimetrackerEmulator]:
    users = [EmulatedUser(dataset.contractor_key(kind)) for kind in dataset.CONTRACTORS]
    users += [EmulatedUser(f"{name}@example.com") for name in dataset.NARROW_INSIDE]
    # seated earlier (by hand): syncd must not take the seat on a read that lost them
    users.append(EmulatedUser(dataset.expected_key(dataset.NARROW_OUTSIDE_USER), "Team"))
    with TimetrackerEmulator(users, token=TOKEN, quota_per_second=None, quota_per_minute=None) as running:
        yield running


@pytest.fixture(autouse=True)
def _password(dataset: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, dataset.SERVICE_PASSWORD)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)


def _plan(config: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["plan", "-c", config, "--format", "json"])
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_expired_accounts_get_no_new_seat(
    samba: Any,
    tmp_path: Path,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(tmp_path, samba, emulator, dataset, dataset.BASE_DN, "Contractors", "")

    plan = _plan(config, capsys)

    assigned = {c["email"] for c in plan["changes"] if c["action"] == "seat-assign"}
    wanted = {key for key, enabled in dataset.expected_contractors().items() if enabled}
    assert assigned == wanted, "expired accounts (accountExpires in the past) must not be assigned"
    assert [g["health"] for g in plan["groups"]] == ["ok"]


def test_an_expired_seat_follows_grace_and_says_when_it_expired(
    second_dc: Any,
    tmp_path: Path,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dc = second_dc
    config = _config(tmp_path, dc, emulator, dataset, dataset.BASE_DN, "Contractors", 'grace = "24h"')
    assert main(["apply", "-c", config]) == 0
    future = dataset.contractor_key("future")
    assert emulator.roles_by_email()[future] == "Team"

    # the contract ends: accountExpires set to 2021-06-01 00:00 UTC (FILETIME)
    admin = dc.admin()
    admin.modify(
        dataset.contractor_dn("future"), {"accountExpires": [(MODIFY_REPLACE, ["132669792000000000"])]}
    )
    admin.unbind()

    plan = _plan(config, capsys)
    assert plan["changes"] == []
    held = {h["email"]: h for h in plan["held"]}
    assert held[future]["cause"] == "grace"
    assert held[future]["action"] == "seat-unassign"
    assert "account expired 2021-06-01 00:00 UTC" in held[future]["reason"], held[future]["reason"]
    assert "'Contractors' (corp)" in held[future]["reason"]


def test_a_nested_member_outside_a_narrowed_base_dn_makes_the_group_partial(
    samba: Any,
    tmp_path: Path,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = 'unmanaged = "remove"\ngrace = "0s"'
    config = _config(tmp_path, samba, emulator, dataset, dataset.NARROW_BASE, "NarrowTeam", policy)

    plan = _plan(config, capsys)

    outside = dataset.expected_key(dataset.NARROW_OUTSIDE_USER)
    [group] = plan["groups"]
    assert group["health"] == "partial", group
    assert dataset.user_dn(dataset.NARROW_OUTSIDE_USER).casefold() in group["detail"].casefold()
    assert "NarrowNested" in group["detail"] and "outside base_dn" in group["detail"]
    assert outside not in {c["email"] for c in plan["changes"]}, "a seat lost to a short read"
    assert {h["email"]: h["cause"] for h in plan["held"]} == {outside: "partial"}
    # the people who were read still get their seats
    assigned = {c["email"] for c in plan["changes"] if c["action"] == "seat-assign"}
    assert assigned == {f"{name}@example.com" for name in dataset.NARROW_INSIDE}
