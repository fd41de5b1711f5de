"""A world for identity tests: the 7pace emulator (any contract) over real HTTP, an export with upn/id columns,
and a config with an optional [identity] table."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import Contract, EmulatedUser, TimetrackerEmulator
from tests.support.configs import USERS_ARE_TEAM, local_target

TOKEN = "sentinel-7pace-token-identity"
DEFAULT_CONTRACT = Contract()


@dataclass(frozen=True)
class Member:
    group: str
    email: str
    upn: str = ""
    id: str = ""
    display_name: str = ""


@dataclass
class IdentityWorld:
    root: Path
    emulators: list[TimetrackerEmulator] = field(default_factory=list)

    def seventh_pace(
        self, users: Sequence[EmulatedUser], contract: Contract = DEFAULT_CONTRACT
    ) -> TimetrackerEmulator:
        emulator = TimetrackerEmulator(
            users, token=TOKEN, quota_per_second=None, quota_per_minute=None, contract=contract
        ).start()
        self.emulators.append(emulator)
        return emulator

    def members(self, rows: Sequence[Member]) -> None:
        with (self.root / "members.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["group", "email", "upn", "id", "display_name"])
            writer.writerow(["Users", "", "", "", ""])  # the group exists even when empty
            writer.writerows([m.group, m.email, m.upn, m.id, m.display_name] for m in rows)

    def config(self, identity: str = "", policy: str = 'grace = "0s"') -> str:
        emulator = self.emulators[-1]
        text = (
            f"\n{local_target(emulator.base_url)}\n{USERS_ARE_TEAM}\n"
            '[state]\ndir = "state"  # (issue 21: else a folder per target; the tests read the ledger here)\n\n'
            f"[policy]\n{policy}\n\n{identity}\n"
        )
        path = self.root / "syncd.toml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def plan(self, config: str, capsys: pytest.CaptureFixture[str], code: int = 0) -> dict[str, Any]:
        capsys.readouterr()
        assert main(["plan", "-c", config, "--format", "json"]) == code
        data: dict[str, Any] = json.loads(capsys.readouterr().out)
        return data


@pytest.fixture
def ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityWorld]:
    token = tmp_path / "token.txt"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    world = IdentityWorld(tmp_path)
    try:
        yield world
    finally:
        for emulator in world.emulators:
            emulator.stop()
