"""Fixtures and the reliability recorder for the hardening suites (issue 9).

Helpers live in harness.py and reliability.py next to this file, loaded here by path (tests are not a
package under --import-mode=importlib) and registered as `hardening_harness` / `hardening_reliability` so
test modules can `import hardening_harness as hh`. The Samba helpers of tests/ldap are reused the same way.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("hardening_harness", HERE / "harness.py")
reliability = _load("hardening_reliability", HERE / "reliability.py")
# the same module names tests/ldap/conftest.py uses, so one session shares one copy
samba_dc = _load("syncd_tests_ldap_samba_dc", REPO / "tests" / "ldap" / "samba_dc.py")
ad_dataset = _load("syncd_tests_ldap_ad_dataset", REPO / "tests" / "ldap" / "ad_dataset.py")

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


# -- Samba (reusing tests/ldap's fixture code) ---------------------------------------------------------------


def _require_samba() -> None:
    reason = samba_dc.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("SYNCD_REQUIRE_SAMBA") == "1":
        pytest.fail(f"SYNCD_REQUIRE_SAMBA=1 but {reason}", pytrace=False)
    pytest.skip(f"Samba AD DC not available: {reason}")


@pytest.fixture(scope="session")
def samba_template() -> Path:
    _require_samba()
    template, _ = samba_dc.cached_template(
        f"base-{ad_dataset.DATASET_VERSION}",
        lambda dc: ad_dataset.populate(dc.host, samba_dc.ADMIN_DN, samba_dc.ADMIN_PASSWORD),
    )
    return Path(template)


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


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., Any]]:
    """tests/ldap's CuttingProxy: forwards to a DC and kills it once `cut_after` answer bytes came back."""
    ldap_conftest = _load("syncd_tests_ldap_conftest_module", REPO / "tests" / "ldap" / "conftest.py")
    proxies: list[Any] = []

    def make(upstream: tuple[str, int], cut_after: int, on_cut: Callable[[], None]) -> Any:
        proxy = ldap_conftest.CuttingProxy(upstream, cut_after, on_cut)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
        proxy.join()
