"""A world for end-to-end tests: the 7pace emulator over real HTTP, a membership export, a config file
(tests/support/world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.world import TOKEN, World, org, running_emulator


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    with running_emulator(tmp_path, org(40), TOKEN) as emulator:
        yield World(tmp_path, emulator)
