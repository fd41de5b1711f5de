"""A unit world: a Config built in code (no TOML file, no subprocess, no emulator), fakes behind it, a
clock the test moves, and one call per command. The end-to-end suites (tests/cli, tests/hardening) build
the same Config from a TOML template and run `syncd` against the 7pace emulator; here only the core runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syncd.config import DEFAULT_ROLE_ORDER, Config, Schedule
from syncd.cycle import Cycle, CycleRequest, CycleResult
from syncd.models import Policy, Rule
from syncd.targets.interface import Target
from tests.unit.fakes import FakeSource, FakeSourceSettings, FakeTarget, FakeTargetSettings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

UNGUARDED = Policy(
    grace=timedelta(0),
    max_removals=1_000_000,
    max_removal_percent=100.0,
    max_group_shrink_percent=100.0,
    removal_window=timedelta(0),
)
"""Removals the moment someone leaves, no removal guard: a world of a handful of seats would trip the
percentage guards on every removal. The grace period and each guard are tested on their own."""

RULES = (("hr", "Users", "Team"), ("hr", "Admins", "Administrator"))


def make_config(
    root: Path,
    sources: Sequence[FakeSource],
    rules: Sequence[tuple[str, str, str]] = RULES,
    policy: Policy = UNGUARDED,
) -> Config:
    """`rules` are (source, group, role), in `[[rules]]` order; roles rank as syncd's default 7pace order."""
    return Config(
        file=root / "syncd.toml",
        digest="unit-config",
        target=FakeTargetSettings(),
        sources=tuple(FakeSourceSettings(s.name, s) for s in sources),
        rules=tuple(Rule(n, source, group, role) for n, (source, group, role) in enumerate(rules)),
        role_order=DEFAULT_ROLE_ORDER,
        policy=policy,
        schedule=Schedule(),
        state_dir=root / "state",
        audit_dir=root / "logs",
        audit_retention_days=400,
        metrics_file=None,
        dry_run=False,
        pricing=None,
    )


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


PLAN = CycleRequest(command="plan", write=False, audit=False)
RUN = CycleRequest(command="run", write=True, audit=True)
DRY_RUN = CycleRequest(command="run", write=False, audit=True)


@dataclass
class UnitWorld:
    """One config, its fakes and its clock; `run()`/`plan()` go through `Cycle` exactly as `syncd` does."""

    config: Config
    target: FakeTarget
    clock: Clock = field(default_factory=Clock)

    def cycle(self) -> Cycle:
        @contextmanager
        def opened(_: Config) -> Iterator[Target]:
            yield self.target

        return Cycle(self.config, clock=self.clock, open_target=opened)

    def run(self, request: CycleRequest = RUN) -> CycleResult:
        return self.cycle().run(request)

    def plan(self) -> CycleResult:
        return self.cycle().run(PLAN)

    def with_policy(self, policy: Policy) -> UnitWorld:
        """The same fakes, state and clock under another policy (a config edit between runs)."""
        return UnitWorld(replace(self.config, policy=policy), self.target, self.clock)
