"""docs/architecture.md stays true: its example source works as the walkthrough says (the module plus one
registry line, nothing in config.py or the cycle), and every module it cites exists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from syncd.config import parse
from syncd.errors import ExitCode
from syncd.sources import SOURCE_MODULES
from tests.unit.fakes import FakeTarget
from tests.unit.world import UnitWorld

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"

PENDING: set[str] = set()
"""Paths the doc may cite before they land (none now: keep it empty)."""


def block(language: str, after: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(after) :]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no {language} block after {after!r}"
    return found.group(1)


@pytest.fixture
def static_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example as syncd/sources/static.py would be, and its registry line."""
    folder = tmp_path / "example"
    folder.mkdir()
    (folder / "static_source_example.py").write_text(block("python", "## Adding a source type"), "utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(SOURCE_MODULES, "static", "static_source_example")


@pytest.mark.usefixtures("static_source")
def test_the_example_source_is_configured_and_run_with_nothing_but_its_module_and_registry_line(
    tmp_path: Path,
) -> None:
    source = tomllib.loads(block("toml", "## Adding a source type"))["sources"][0]
    config = parse(
        {
            "target": {"type": "fake"},
            "sources": [source],
            "rules": [{"source": "pilot", "group": "Pilots", "role": "Team"}],
        },
        tmp_path / "syncd.toml",
    )
    world = UnitWorld(config, FakeTarget({"ann@example.com": "None", "bob@example.com": "None"}))
    assert world.run().exit_code is ExitCode.OK
    assert world.target.seated() == {"ann@example.com": "Team", "bob@example.com": "Team"}
    assert world.plan().plan.changes == ()


@pytest.mark.usefixtures("static_source")
def test_the_example_source_reads_a_group_it_does_not_have_as_missing(tmp_path: Path) -> None:
    source = {"name": "pilot", "type": "static", "groups": {"Pilots": ["ann@example.com"]}}
    rules = [{"source": "pilot", "group": "Typo", "role": "Team"}]
    config = parse({"target": {"type": "fake"}, "sources": [source], "rules": rules}, tmp_path / "syncd.toml")
    result = UnitWorld(config, FakeTarget({"ann@example.com": "None"})).run()
    assert result.exit_code is ExitCode.PARTIAL
    assert [g.health.value for g in result.plan.groups] == ["missing"]


def test_every_module_and_folder_the_doc_cites_exists() -> None:
    cited = set(re.findall(r"\b((?:syncd|tests|docs)/[\w/]*(?:\.py|\.md|/))", DOC.read_text("utf-8")))
    cited = {c for c in cited if "<new>" not in c}
    missing = sorted(c for c in cited - PENDING if not (REPO / c).exists())
    assert missing == []
    assert len(cited) > 40  # the pattern still finds the citations
