"""Two 7pace organisations (two emulators, on-prem collections OrgA and OrgB) and one TrackingTime account,
one membership export and one config listing the three as `[[targets]]`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser
from tests.support.configs import FILE_SOURCE, local_target, rule
from tests.support.world import read_audit, write_members, write_token

TOKEN_A = "sentinel-7pace-token-org-a"
TOKEN_B = "sentinel-7pace-token-org-b"
TT_PASSWORD = "sentinel-tt-app-password"
ACCOUNT = 4711

RULES = "\n" + "\n".join(
    [
        rule("Users", "Team", target="org-a"),
        rule("Admins", "Administrator", target="org-a"),
        rule("Users", "Team", target="org-b"),
        rule("Users", "CO_WORKER", target="tt"),
    ]
)


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
        write_members(self.root, groups)

    def targets(self, *, tt_url: str | None = None) -> str:
        org_a = local_target(self.org_a.onprem_url("OrgA"), 'token = { file = "a.txt" }', name="org-a")
        org_b = local_target(self.org_b.onprem_url("OrgB"), 'token = { file = "b.txt" }', name="org-b")
        return f"""
{org_a}
{org_b}seat_limit = 50

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
            + "\n"
            + FILE_SOURCE
            + rules
            + '\n[policy]\ngrace = "0s"\nmax_removal_percent = 100\n'
            + extra
        )
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def audit(self) -> list[dict[str, Any]]:
        return read_audit(self.root / "logs")


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    write_token(tmp_path, TOKEN_A, "a.txt")
    write_token(tmp_path, TOKEN_B, "b.txt")
    write_token(tmp_path, TT_PASSWORD, "tt.txt")
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
