"""The end-to-end world the CLI and hardening suites share: a tmp folder with a token file, a members.csv
export and syncd.toml, the 7pace emulator over real HTTP, and the audit log syncd writes there.

tests/hardening/harness.py puts a FaultProxy in front (`ProxiedWorld`); everything else is this one class.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from tests.support.configs import FILE_SOURCE, rule

TOKEN = "sentinel-7pace-token-e2e"
DEFAULT_RULES = (("Users", "Team"), ("Admins", "Administrator"))


def write_members(root: Path, groups: Mapping[str, Sequence[str]]) -> None:
    """root/members.csv with a `group,` row per group, so a group with nobody in it still exists."""
    rows = ["group,email"]
    for group, emails in groups.items():
        rows.append(f"{group},")  # declares the group even when empty
        rows.extend(f"{group},{email}" for email in emails)
    (root / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_token(root: Path, token: str, name: str = "token.txt") -> Path:
    """root/name, readable by its owner only (syncd refuses a secret file others can read)."""
    path = root / name
    path.write_text(token, encoding="utf-8")
    path.chmod(0o600)
    return path


def read_audit(folder: Path, since: Mapping[Path, int] | None = None) -> list[dict[str, Any]]:
    """Every audit event in folder, or only those written after `since` (an `audit_mark()`)."""
    events: list[dict[str, Any]] = []
    for path in sorted(folder.glob("audit-*.jsonl")):
        with path.open("rb") as handle:
            handle.seek((since or {}).get(path, 0))
            text = handle.read().decode("utf-8")
        events += [json.loads(line) for line in text.splitlines() if line and not _torn(line)]
    return events


def _torn(line: str) -> bool:
    """A fragment a SIGKILL mid-write left behind (syncd's readers skip it; syncd/audit.py repair_torn_line):
    cut short, so it does not end the JSON object. A whole line that is not JSON still fails the test."""
    return not line.rstrip().endswith("}")


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


@dataclass
class World:
    root: Path
    emulator: TimetrackerEmulator
    token: str = TOKEN

    # what [policy] says when a test names none; the hardening world lifts the removal caps as well
    default_policy: ClassVar[str] = 'grace = "0s"'

    @property
    def config(self) -> Path:
        return self.root / "syncd.toml"

    @property
    def url(self) -> str:
        """Where syncd is told 7pace is."""
        return self.emulator.base_url

    def members(self, groups: Mapping[str, Sequence[str]]) -> None:
        write_members(self.root, groups)

    def write_config(
        self,
        rules: Sequence[tuple[str, str]] = DEFAULT_RULES,
        policy: str | None = None,
        extra: str = "",
        batch_size: int = 100,
        *,
        target: str = "",
        sources: str = "",
        extra_rules: Sequence[tuple[str, str, str]] = (),
        url: str | None = None,
    ) -> Path:
        """syncd.toml: the 7pace target, the file source `hr`, a rule per (group, role) of `hr` and per
        (source, group, role) of `extra_rules`, [policy], then `extra` verbatim."""
        text = f"""
[target]
url = "{url or self.url}"
token = {{ file = "token.txt" }}
allow_insecure_http = true
batch_size = {batch_size}
requests_per_second = 0
requests_per_minute = 0
{target}

{FILE_SOURCE}{sources}
"""
        for group, role in rules:
            text += "\n" + rule(group, role)
        for source, group, role in extra_rules:
            text += "\n" + rule(group, role, source)
        text += f"\n[policy]\n{self.default_policy if policy is None else policy}\n{extra}\n"
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def roles(self) -> dict[str, str]:
        """Who holds a seat, as the emulator spells their e-mail."""
        return self.emulator.roles_by_email()

    def audit(self, since: Mapping[Path, int] | None = None) -> list[dict[str, Any]]:
        """Every audit event, or only those written after `since` (an `audit_mark()`)."""
        return read_audit(self.root / "logs", since)

    def audit_mark(self) -> dict[Path, int]:
        return {path: path.stat().st_size for path in (self.root / "logs").glob("audit-*.jsonl")}


@contextlib.contextmanager
def running_emulator(root: Path, people: Iterable[EmulatedUser], token: str) -> Iterator[TimetrackerEmulator]:
    """The 7pace emulator accepting `token` (written to root/token.txt), without rate limits."""
    write_token(root, token)
    with TimetrackerEmulator(people, token=token, quota_per_second=None, quota_per_minute=None) as emulator:
        yield emulator
