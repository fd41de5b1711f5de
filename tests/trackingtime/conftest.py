"""Shared helpers for the TrackingTime emulator and target tests: an emulator on 127.0.0.1, a target wired to
it, and changes made the way the planner makes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncd.emulators.trackingtime import TrackingTimeEmulator, TtUser
from syncd.http import HttpOptions
from syncd.identity import normalise_email
from syncd.models import Action, Change, Reason
from syncd.secrets import SecretRef
from syncd.targets.trackingtime import TrackingTimeSettings, TrackingTimeTarget
from tests.support.factories import closing_factory

PASSWORD = "tt-app-pw-8c1d7e"  # asserted never to appear in messages
PASSWORD_ENV = "SYNCD_TEST_TRACKINGTIME_PASSWORD"
ACCOUNT = 4711
FAST = HttpOptions(timeout=5.0, max_attempts=3, max_retry_seconds=20.0)


def people(count: int, role: str = "CO_WORKER", *, start: int = 0, **flags: Any) -> list[TtUser]:
    return [TtUser(f"user{i:05d}@contoso.example", role, **flags) for i in range(start, start + count)]


def change(email: str, after: str, before: str = "None") -> Change:
    key = normalise_email(email)
    assert key is not None
    action = Action.ASSIGN if before == "None" else Action.UNASSIGN if after == "None" else Action.CHANGE
    return Change(key, email, action, before, after, Reason("test"))


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD_ENV


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., TrackingTimeEmulator]]:
    def make(*args: Any, **kwargs: Any) -> TrackingTimeEmulator:
        kwargs.setdefault("app_password", PASSWORD)
        kwargs.setdefault("account_id", ACCOUNT)
        return TrackingTimeEmulator(*args, **kwargs).start()

    yield from closing_factory(make, lambda emulator: emulator.stop())


@pytest.fixture
def target_factory(password_env: str) -> Iterator[Callable[..., TrackingTimeTarget]]:
    def make(emulator: TrackingTimeEmulator, **overrides: Any) -> TrackingTimeTarget:
        settings = TrackingTimeSettings(
            api_url=emulator.api_url,
            account_id=ACCOUNT,
            app_password=SecretRef("env", password_env, "syncd.toml: target.app_password"),
            requests_per_second=0,
            http=FAST,
        )
        return TrackingTimeTarget(dataclasses.replace(settings, **overrides))

    yield from closing_factory(make, lambda target: target.close())
