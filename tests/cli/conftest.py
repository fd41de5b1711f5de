"""A world for end-to-end tests: the 7pace emulator over real HTTP, a membership export, a config file."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator

TOKEN = "sentinel-7pace-token-e2e"


@dataclass
class World:
    root: Path
    emulator: TimetrackerEmulator
    token: str = TOKEN

    @property
    def config(self) -> Path:
        return self.root / "syncd.toml"

    def members(self, groups: Mapping[str, Sequence[str]]) -> None:
        rows = ["group,email"]
        for group, emails in groups.items():
            rows.append(f"{group},")  # declares the group even when empty
            rows.extend(f"{group},{email}" for email in emails)
        (self.root / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    def write_config(
        self,
        rules: Sequence[tuple[str, str]] = (("Users", "Team"), ("Admins", "Administrator")),
        policy: str = 'grace = "0s"',
        extra: str = "",
        batch_size: int = 100,
    ) -> Path:
        text = f"""
[target]
url = "{self.emulator.base_url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true
batch_size = {batch_size}
requests_per_second = 0
requests_per_minute = 0

[[sources]]
name = "hr"
type = "file"
path = "members.csv"
"""
        for group, role in rules:
            text += f'\n[[rules]]\nsource = "hr"\ngroup = "{group}"\nrole = "{role}"\n'
        text += f"\n[policy]\n{policy}\n{extra}\n"
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def roles(self) -> dict[str, str]:
        return self.emulator.roles_by_email()

    def audit(self) -> list[dict[str, object]]:
        events = []
        for path in sorted((self.root / "logs").glob("audit-*.jsonl")):
            events += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return events


def org(n: int, seated: Mapping[str, str] | None = None, prefix: str = "u") -> list[EmulatedUser]:
    """An organisation of n users u0000@example.com…, optionally some with roles."""
    seated = seated or {}
    users = [
        EmulatedUser(f"{prefix}{i:04d}@example.com", seated.get(f"{prefix}{i:04d}@example.com", "None"))
        for i in range(n)
    ]
    known = {u.email for u in users}
    users += [EmulatedUser(email, role) for email, role in seated.items() if email not in known]
    return users


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    token = tmp_path / "token.txt"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    emulator = TimetrackerEmulator(org(40), token=TOKEN, quota_per_second=None, quota_per_minute=None)
    with emulator:
        yield World(tmp_path, emulator)
