"""Issue 15: running the tests must not rewrite tracked files. docs/reliability.md is written only when asked
(scripts/reliability-doc sets SYNCD_RELIABILITY_DOC=1)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.hardening import reliability

REPO = Path(__file__).resolve().parents[2]
HARDENING = REPO / "tests" / "hardening"


def _recorder_module() -> ModuleType:
    return reliability


def _complete_recorder(module: ModuleType) -> object:
    recorder = module.Recorder()
    recorder.expected.add("tests/hardening/test_x.py::test_a")
    recorder.outcomes["tests/hardening/test_x.py::test_a"] = "passed"
    recorder.files_seen.update(p.name for p in HARDENING.glob("test_*.py"))
    return recorder


@pytest.mark.parametrize("setting", [None, "", "0", "skip"])
def test_a_complete_hardening_run_does_not_write_the_doc_unless_asked(
    setting: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _recorder_module()
    if setting is None:
        monkeypatch.delenv("SYNCD_RELIABILITY_DOC", raising=False)
    else:
        monkeypatch.setenv("SYNCD_RELIABILITY_DOC", setting)
    assert _complete_recorder(module).write(tmp_path, HARDENING) is None  # type: ignore[attr-defined]
    assert not (tmp_path / "docs").exists()


def test_asked_for_it_writes_where_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _recorder_module()
    monkeypatch.setenv("SYNCD_RELIABILITY_DOC", "1")
    written = _complete_recorder(module).write(tmp_path, HARDENING)  # type: ignore[attr-defined]
    assert written == tmp_path / "docs" / "reliability.md" and written.read_text().startswith("# Reliability")
    monkeypatch.setenv("SYNCD_RELIABILITY_DOC", str(tmp_path / "elsewhere.md"))
    assert _complete_recorder(module).write(tmp_path, HARDENING) == tmp_path / "elsewhere.md"  # type: ignore[attr-defined]


def test_the_regeneration_script_is_the_documented_command() -> None:
    script = (REPO / "scripts" / "reliability-doc").read_text(encoding="utf-8")
    assert "SYNCD_RELIABILITY_DOC=1" in script and "tests/hardening" in script
    assert "scripts/reliability-doc" in (REPO / "README.md").read_text(encoding="utf-8")
