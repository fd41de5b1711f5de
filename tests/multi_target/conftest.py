"""Two 7pace organisations (two emulators, on-prem collections OrgA and OrgB) and one TrackingTime account,
one membership export and one config listing the three as `[[targets]]`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser

TOKEN_A = "sentinel-7pace-token-org-a"
TOKEN_B = "sentinel-7pace-token-org-b"
TT_PASSWORD = "sentinel-tt-app-password"
ACCOUNT = 4711

RULES = """
[[rules]]
source = "hr"
group = "Users"
role = "Team"
target = "org-a"

[[rules]]
source = "hr"
group = "Admins"
role = "Administrator"
target = "org-a"

[[rules]]
source = "hr"
group = "Users"
role = "Team"
target = "org-b"

[[rules]]
source = "hr"
group = "Users"
role = "CO_WORKER"
target = "tt"
"""


def _secret(path: Path, value: str) -> None:
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)


@dataclass
class Fleet:
    root: Path
    org_a: TimetrackerEmulator
    org_b: TimetrackerEmulator
    tt: TrackingTimeEmulator

    @property
    def config(self) -> Path:
        return self.root / "syncd.toml"

    def members(self, groups: Mapping[str, Sequence[str]]) -> None:
        rows = ["group,email"]
        for group, emails in groups.items():
            rows.append(f"{group},")
            rows.extend(f"{group},{email}" for email in emails)
        (self.root / "members.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    def targets(self, *, tt_url: str | None = None) -> str:
        return f"""
[[targets]]
name = "org-a"
type = "timetracker"
url = "{self.org_a.onprem_url("OrgA")}"
token = {{ file = "a.txt" }}
allow_insecure_http = true
requests_per_second = 0
requests_per_minute = 0

[[targets]]
name = "org-b"
type = "timetracker"
url = "{self.org_b.onprem_url("OrgB")}"
token = {{ file = "b.txt" }}
allow_insecure_http = true
requests_per_second = 0
requests_per_minute = 0
seat_limit = 50

[[targets]]
name = "tt"
type = "trackingtime"
url = "{tt_url or self.tt.api_url}"
account_id = {ACCOUNT}
app_password = {{ file = "tt.txt" }}
allow_insecure_http = true
requests_per_second = 0
"""

    def write_config(
        self, *, rules: str = RULES, extra: str = "", tt_url: str | None = None, top: str = ""
    ) -> Path:
        text = (
            top
            + self.targets(tt_url=tt_url)
            + '\n[[sources]]\nname = "hr"\ntype = "file"\npath = "members.csv"\n'
            + rules
            + '\n[policy]\ngrace = "0s"\nmax_removal_percent = 100\n'
            + extra
        )
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def audit(self) -> list[dict[str, object]]:
        events = []
        for path in sorted((self.root / "logs").glob("audit-*.jsonl")):
            events += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return events


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    _secret(tmp_path / "a.txt", TOKEN_A)
    _secret(tmp_path / "b.txt", TOKEN_B)
    _secret(tmp_path / "tt.txt", TT_PASSWORD)
    quiet = {"quota_per_second": None, "quota_per_minute": None}
    org_a = TimetrackerEmulator(
        [
            EmulatedUser("ann@example.com"),
            EmulatedUser("bob@example.com"),
            EmulatedUser("old@example.com", "Team"),
        ],
        token=TOKEN_A,
        **quiet,  # type: ignore[arg-type]
    )
    org_b = TimetrackerEmulator(
        [EmulatedUser("ann@example.com"), EmulatedUser("bob@example.com")],
        token=TOKEN_B,
        **quiet,  # type: ignore[arg-type]
    )
    tt = TrackingTimeEmulator(
        [
            TtUser("owner@example.com", "ADMIN", owner=True),
            TtUser("bob@example.com", "CO_WORKER", archived=True),
        ],
        account_id=ACCOUNT,
        app_password=TT_PASSWORD,
    )
    with org_a, org_b, tt:
        yield Fleet(tmp_path, org_a, org_b, tt)
