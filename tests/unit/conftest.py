"""The unit suite's fixtures: the fakes registered as `type = "fake"`, and a ready world."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.sources import SOURCE_MODULES
from syncd.targets import TARGET_MODULES
from tests.unit.fakes import FakeSource, FakeTarget
from tests.unit.world import UnitWorld, make_config


@pytest.fixture(autouse=True)
def _fake_types(monkeypatch: pytest.MonkeyPatch) -> None:
    # the cycle opens sources through the registry, by type name: the fake is one more type
    monkeypatch.setitem(SOURCE_MODULES, "fake", "tests.unit.fakes")
    monkeypatch.setitem(TARGET_MODULES, "fake", "tests.unit.fakes")


@pytest.fixture
def hr() -> FakeSource:
    return FakeSource("hr", {"Users": [], "Admins": []})


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget({f"u{n}@example.com": "None" for n in range(10)})


@pytest.fixture
def world(tmp_path: Path, hr: FakeSource, target: FakeTarget) -> UnitWorld:
    return UnitWorld(make_config(tmp_path, [hr]), target)
