"""Shared helpers for the 7pace Timetracker emulator and target tests: emulators on 127.0.0.1, a target
wired to one, and `[target]` sections parsed the way syncd.config does (type read first)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.apply_loop import batches as _batches
from syncd.config_section import Section
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.http import HttpOptions
from syncd.identity import normalise_email
from syncd.models import Action, Change, ChangeResult, Reason
from syncd.secrets import SecretRef
from syncd.targets.timetracker import TimetrackerSettings, TimetrackerTarget, api_root
from tests.support.factories import closing_factory

TOKEN = "tt-token-5f2b9c"  # what the emulators accept; asserted never to appear in messages
TOKEN_ENV = "SYNCD_TEST_TT_TOKEN"
FAST = HttpOptions(timeout=5.0, max_attempts=4, max_retry_seconds=30.0)


def users(
    count: int, role: str = "Team", *, start: int = 0, domain: str = "contoso.example"
) -> list[EmulatedUser]:
    return [EmulatedUser(f"user{i:06d}@{domain}", role, f"User {i}") for i in range(start, start + count)]


def change(email: str, after: str, before: str = "None", action: Action | None = None) -> Change:
    key = normalise_email(email)
    assert key is not None
    if action is None:
        action = Action.ASSIGN if before == "None" else Action.UNASSIGN if after == "None" else Action.CHANGE
    return Change(key, email, action, before, after, Reason("test"))


def apply_in_cycle_batches(target: TimetrackerTarget, changes: list[Change]) -> list[ChangeResult]:
    """Send `changes` (in plan order) the way the cycle does, the one owner of slicing: its batches of at
    most `target.batch_size`, unassignments apart, one `apply` (one POST) each."""
    results: list[ChangeResult] = []
    for _, batch in _batches(changes, target.batch_size):
        results.extend(target.apply(batch))
    return results


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN_ENV


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., TimetrackerEmulator]]:
    def make(*args: Any, **kwargs: Any) -> TimetrackerEmulator:
        kwargs.setdefault("token", TOKEN)
        return TimetrackerEmulator(*args, **kwargs).start()

    yield from closing_factory(make, lambda emulator: emulator.stop())


@pytest.fixture
def target_factory(token_env: str) -> Iterator[Callable[..., TimetrackerTarget]]:
    def make(url: str, *, page_size: int = 500, **overrides: Any) -> TimetrackerTarget:
        root = api_root(url)
        assert root is not None
        settings = TimetrackerSettings(
            url=url,
            api_root=root,
            token=SecretRef("env", token_env, "syncd.toml: target.token"),
            http=FAST,
        )
        return TimetrackerTarget(dataclasses.replace(settings, **overrides), page_size=page_size)

    yield from closing_factory(make, lambda target: target.close())


def section(data: dict[str, Any], problems: list[str]) -> Section:
    """A `[target]` table as syncd.config hands it over: `type` already read."""
    table = Section({"type": "timetracker", **data}, "target", Path("syncd.toml"), problems)
    table.str("type")
    return table
