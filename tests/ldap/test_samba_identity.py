"""Issue 16 against a real directory: Samba AD DC → `syncd` (in-process `main`) → the 7pace emulator listing
rows by uniqueName only. mail ≠ UPN, a secondary proxy address, a guest-style UPN and an on-prem DOMAIN\\user
name each match their seat; a rename between two runs (mail, UPN and sAMAccountName changed, objectGUID kept)
is shown as renamed, keeps its one seat and its ownership."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import Contract, EmulatedUser, TimetrackerEmulator
from syncd.state import State
from tests.support.configs import local_target
from tests.support.world import write_token

pytestmark = pytest.mark.samba

TOKEN = "e2e-7pace-token-identity"
PASSWORD_ENV = "SYNCD_E2E_LDAP_PASSWORD"
ADMIN = ("CN=Administrator,CN=Users,DC=test,DC=example,DC=com", "Passw0rd!Test")
SEATED_BY_HAND = {  # 7pace row e-mail (hidden: rows carry uniqueName only) for each person already seated
    "Ann Lee": "ann.lee@example.com",
    "Bob King": "bob.king@example.com",
    "Carol Guest": "carol@partner.example.net",
    "Dan Lee": "dan@mail.elsewhere.example",  # in no directory attribute
}


@pytest.fixture
def emulator(dataset: ModuleType) -> Iterator[TimetrackerEmulator]:
    users = [
        EmulatedUser(SEATED_BY_HAND[cn], "Team", unique_name=dataset.IDENTITY_USERS[cn][1])
        for cn in SEATED_BY_HAND
    ]
    users += [
        EmulatedUser("eve.smith@example.com", unique_name="esmith@test.example.com"),
        EmulatedUser("eve.jones@example.com", unique_name="ejones@test.example.com"),  # her later address
    ]
    contract = Contract(email_in_rows=False)
    with TimetrackerEmulator(
        users, token=TOKEN, quota_per_second=None, quota_per_minute=None, contract=contract
    ) as running:
        yield running


@pytest.fixture
def config(
    tmp_path: Path,
    second_dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    monkeypatch.setenv(PASSWORD_ENV, dataset.SERVICE_PASSWORD)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    dataset.populate_identity(second_dc.host, *ADMIN)
    write_token(tmp_path, TOKEN)
    source = second_dc.source_toml(
        bind_user=dataset.SERVICE_USER, password_env=PASSWORD_ENV, base_dn=dataset.BASE_DN
    )
    path = tmp_path / "syncd.toml"
    path.write_text(
        local_target(emulator.base_url)
        + source
        + f"""
[[rules]]
source = "corp"
group = "{dataset.IDENTITY_GROUP}"
role = "Team"

[state]
dir = "state"  # (issue 21: else a folder per target; the tests read the ledger here)

[policy]
grace = "0s"
unmanaged = "remove"
max_removal_percent = 100

[identity.domain_aliases]
{dataset.IDENTITY_NETBIOS} = "test.example.com"
""",
        encoding="utf-8",
    )
    return str(path)


def plan(config: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["plan", "-c", config, "--format", "json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_every_name_matches_and_a_rename_keeps_its_seat(
    config: str,
    tmp_path: Path,
    second_dc: Any,
    emulator: TimetrackerEmulator,
    dataset: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = plan(config, capsys)
    # Ann (UPN), Bob (secondary proxy), Carol (guest UPN), Dan (TEST\dlee) hold their seats already: only Eve
    # is new. Without issue 16 each of the four was "assign by mail + remove the unique-name row".
    assert [(c["action"], c["key"]) for c in first["changes"]] == [("seat-assign", "eve.smith@example.com")]
    # issue 14 × 16: Eve is a user of the organization (found under her UPN, the unique name 7pace lists),
    # so the seat is written by her 7pace id, in 7pace's spelling, never by an address 7pace may not know
    (new_seat,) = first["changes"]
    assert new_seat["target_id"] and new_seat["email"] == "esmith@test.example.com"
    assert first["ambiguous"] == [] and first["seats"]["before"] == 4
    assert main(["run", "-c", config]) == 0
    assert emulator.roles_by_email() == {
        **dict.fromkeys(SEATED_BY_HAND.values(), "Team"),
        "eve.smith@example.com": "Team",
    }
    assert plan(config, capsys)["changes"] == []
    with State(tmp_path / "state") as state:
        guid = state.owned_with_ids()["eve.smith@example.com"].person_id
    assert len(guid) == 36  # the objectGUID

    dataset.rename_identity_user(second_dc.host, *ADMIN)  # Eve Smith → Eve Jones, same objectGUID
    second = plan(config, capsys)
    assert second["changes"] == []  # no "assign eve.jones + remove eve.smith"
    assert [(r["before"], r["key"], r["how"]) for r in second["renamed"]] == [
        ("eve.smith@example.com", "eve.jones@example.com", f"same immutable id {guid}")
    ]
    assert main(["run", "-c", config]) == 0
    assert emulator.roles_by_email()["eve.smith@example.com"] == "Team"
    assert "eve.jones@example.com" not in emulator.roles_by_email()
    with State(tmp_path / "state") as state:
        assert state.owned_with_ids()["eve.jones@example.com"].person_id == guid  # ownership kept

    capsys.readouterr()
    assert main(["status", "-c", config, "--user", "esmith@test.example.com", "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["current"] == "eve.jones@example.com" and status["ledger"]["person_id"] == guid
