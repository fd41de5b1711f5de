"""Fixtures for the LDAP source: a real Samba AD DC on 127.0.0.1 (session), a second, killable DC on
127.0.0.2 (per test), a TCP proxy that kills a DC part-way through a read
(tests/support/cutting_proxy.py), and a source factory.

Without root or the Samba packages the Samba tests skip with the reason; with SYNCD_REQUIRE_SAMBA=1
(set by .ci/run) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from syncd.config_section import Section
from syncd.sources.ldap import LdapSource
from syncd.sources.ldap_settings import parse_ldap_settings
from tests.ldap import ad_dataset, samba_dc
from tests.support.cutting_proxy import cutting_proxy
from tests.support.factories import closing_factory
from tests.support.samba import base_template, require_samba

__all__ = ["cutting_proxy"]  # a fixture: imported here so tests/ldap's tests can ask for it

PASSWORD_ENV = "SYNCD_TEST_LDAP_PASSWORD"
TIMINGS = pytest.StashKey[dict[str, float]]()


@pytest.fixture(scope="session")
def dataset() -> ModuleType:
    """The data set module: names, DNs and the expected results (tests/ldap/ad_dataset.py)."""
    return ad_dataset


@pytest.fixture(scope="session")
def samba_template(pytestconfig: pytest.Config) -> Path:
    """The provisioned + populated directory, built once and cached across sessions (keyed by version)."""
    require_samba("Samba AD DC tests skipped")
    started = time.monotonic()
    template, timings = base_template()
    pytestconfig.stash.setdefault(TIMINGS, {}).update(
        {f"template_{k}": v for k, v in timings.items()} | {"template_wait": time.monotonic() - started}
    )
    return Path(template)


@pytest.fixture(scope="session")
def samba(
    samba_template: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Any]:
    """A running copy of the template on 127.0.0.1 (LDAP 389 with StartTLS, LDAPS 636), for the session."""
    directory = tmp_path_factory.mktemp("samba") / "dc"
    started = time.monotonic()
    samba_dc.copy_directory(samba_template, directory)
    copied = time.monotonic()
    with samba_dc.host_lock("127.0.0.1"):
        locked = time.monotonic()
        dc = samba_dc.start(directory, host="127.0.0.1")
        timings = pytestconfig.stash.setdefault(TIMINGS, {})
        timings |= {
            "session_copy": copied - started,
            "session_lock_wait": locked - copied,
            "session_start": time.monotonic() - locked,
        }
        try:
            yield dc
        finally:
            stopping = time.monotonic()
            dc.stop()
            timings["session_stop"] = time.monotonic() - stopping


@pytest.fixture
def second_dc(samba_template: Path, tmp_path: Path) -> Iterator[Any]:
    """Another copy of the same domain on 127.0.0.2 (Samba's ports are fixed), free to be killed."""
    directory = tmp_path / "dc2"
    samba_dc.copy_directory(samba_template, directory, listen="127.0.0.2/8")
    with samba_dc.host_lock("127.0.0.2"):
        dc = samba_dc.start(directory, host="127.0.0.2")
        try:
            yield dc
        finally:
            dc.stop()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS, None)
    if not timings:
        return
    if timings.get("template_reused"):
        built = f"template reused (built earlier in {timings.get('template_provision', 0) + timings.get('template_first_start', 0) + timings.get('template_populate', 0):.1f}s)"
    else:
        built = (
            f"template built: provision {timings.get('template_provision', 0):.1f}s, first start "
            f"{timings.get('template_first_start', 0):.1f}s, populate {timings.get('template_populate', 0):.1f}s "
            f"(users {timings.get('template_users', 0):.1f}s, groups {timings.get('template_groups', 0):.1f}s)"
        )
    waited = timings.get("session_lock_wait", 0)
    if waited > 0.5:
        built += f"; waited {waited:.1f}s for another test session's DC on 127.0.0.1"
    line = f"samba fixture: {built}"
    if "session_start" in timings:
        line += (
            f"; session copy {timings['session_copy']:.2f}s, start {timings['session_start']:.2f}s, "
            f"stop {timings.get('session_stop', 0):.2f}s"
        )
    terminalreporter.write_line(line)


# -- building sources ------------------------------------------------------------------------------


def settings_section(values: dict[str, Any], problems: list[str] | None = None) -> Section:
    return Section(values, "sources[0]", Path("/etc/syncd/syncd.toml"), [] if problems is None else problems)


@pytest.fixture
def make_source(samba: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LdapSource]]:
    """make_source(**overrides) → an LdapSource bound as the service account over LDAPS by default."""
    monkeypatch.setenv(PASSWORD_ENV, ad_dataset.SERVICE_PASSWORD)

    def make(*, range_step: int | None = None, **overrides: Any) -> LdapSource:
        values: dict[str, Any] = {
            "url": samba.ldaps_url,
            "bind_user": ad_dataset.SERVICE_USER,
            "bind_password": {"env": PASSWORD_ENV},
            "base_dn": ad_dataset.BASE_DN,
            "ca_bundle": str(samba.ca_file),
            "tls_server_name": samba_dc.CERT_NAME,
        }
        values.update(overrides)
        for key in [k for k, v in values.items() if v is None]:
            del values[key]
        problems: list[str] = []
        settings = parse_ldap_settings(settings_section(values, problems), "corp")
        assert problems == []
        return LdapSource(settings, range_step=range_step)

    yield from closing_factory(make, lambda source: source.close())
