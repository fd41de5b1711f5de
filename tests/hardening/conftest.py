"""Fixtures and the reliability recorder for the hardening suites (issue 9).

Helpers live in harness.py and reliability.py next to this file (test modules
`from tests.hardening import harness as hh`); the Samba helpers are tests/ldap's, through tests/support.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import reliability
from tests.ldap import samba_dc
from tests.support.cutting_proxy import cutting_proxy
from tests.support.samba import base_template, require_samba

__all__ = ["cutting_proxy"]  # a fixture: imported here so the hardening suites can ask for it

HERE = Path(__file__).parent
REPO = HERE.parent.parent

RECORDER = reliability.Recorder()


# -- the reliability table ---------------------------------------------------------------------------------


def _ours(path: Path) -> bool:
    return HERE in Path(path).parents


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        if _ours(item.path):
            RECORDER.expected.add(item.nodeid)
            RECORDER.files_seen.add(item.path.name)


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if _ours(item.path):
            RECORDER.deselected += 1
            RECORDER.files_seen.add(item.path.name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in RECORDER.expected:
        return
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        RECORDER.outcomes[report.nodeid] = "skipped: " + reason.removeprefix("Skipped: ")
    elif report.failed:
        RECORDER.outcomes[report.nodeid] = "failed"
    elif report.when == "call":
        RECORDER.outcomes[report.nodeid] = "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    written = RECORDER.write(REPO, HERE)
    if written is not None:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"hardening: reliability table written to {written}")


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """record(section, columns, cells, order=()): one row of docs/reliability.md, shown with this test's
    outcome; rows sort by `order`."""

    def add(section: str, columns: list[str], cells: list[object], order: tuple[object, ...] = ()) -> None:
        RECORDER.add(section, columns, cells, request.node.nodeid, order)

    return add


# -- environment, retries ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SYNCD_CONFIG in the caller's environment must not stand in for the config a test writes.
    (Logging is reset for every test by tests/conftest.py.)"""
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two attempts per request instead of six: a dead peer then costs one 1 s backoff, not 31 s. Only the
    budget changes; what is retried and how failures surface is syncd's own code."""
    from syncd.sources import azure_devops, entra
    from syncd.targets import timetracker

    for module in (timetracker, azure_devops, entra):
        original = module.read_http_options

        def shorter(section: Any, original: Any = original) -> Any:
            return dataclasses.replace(original(section), max_attempts=2, max_retry_seconds=30.0)

        monkeypatch.setattr(module, "read_http_options", shorter)


@pytest.fixture(scope="session")
def test_ca() -> Any:
    from syncd.emulators.tls import TestCA

    return TestCA()


# -- Samba (tests/ldap's helpers; the cutting proxy is tests/support's) ---------------------------------------


@pytest.fixture(scope="session")
def samba_template() -> Path:
    require_samba("Samba AD DC not available")
    template, _ = base_template()
    return template


@pytest.fixture
def killable_dc(samba_template: Path, tmp_path: Path) -> Iterator[Any]:
    """A DC of our own on 127.0.0.2 (Samba's ports are fixed), free to be killed and started again:
    `dc.restart()` starts the same directory anew."""
    directory = tmp_path / "dc"
    samba_dc.copy_directory(samba_template, directory, listen="127.0.0.2/8")
    with samba_dc.host_lock("127.0.0.2"):
        holder = _DC(directory, samba_dc.start(directory, host="127.0.0.2"))
        try:
            yield holder
        finally:
            holder.dc.stop()


@dataclasses.dataclass
class _DC:
    directory: Path
    dc: Any

    def restart(self) -> None:
        if self.dc.running():
            return
        self.dc = samba_dc.start(self.directory, host="127.0.0.2")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dc, name)
