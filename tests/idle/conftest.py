"""Fixtures of tests/timetracker (emulators and targets on 127.0.0.1), shared with the idle-seat tests."""

from __future__ import annotations

from tests.timetracker.conftest import emulator_factory, target_factory, token_env

__all__ = ["emulator_factory", "target_factory", "token_env"]
