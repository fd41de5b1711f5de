"""Fixtures for the LDAP source: a real Samba AD DC on 127.0.0.1 (session), a second, killable DC on
127.0.0.2 (per test), a TCP proxy that kills a DC part-way through a read, and a source factory.

Without root or the Samba packages the Samba tests skip with the reason; with SYNCD_REQUIRE_SAMBA=1
(set by .ci/run) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from syncd.config_section import Section
from syncd.sources.ldap import LdapSource
from syncd.sources.ldap_settings import parse_ldap_settings

HERE = Path(__file__).parent
PASSWORD_ENV = "SYNCD_TEST_LDAP_PASSWORD"
TIMINGS = pytest.StashKey[dict[str, float]]()


def _load(name: str) -> ModuleType:
    """Helpers live next to this file; tests are not a package (--import-mode=importlib)."""
    module_name = f"syncd_tests_ldap_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


samba_dc = _load("samba_dc")
ad_dataset = _load("ad_dataset")


@pytest.fixture(scope="session")
def dataset() -> ModuleType:
    """The data set module: names, DNs and the expected results (tests/ldap/ad_dataset.py)."""
    return ad_dataset


def _require_samba() -> None:
    reason = samba_dc.unavailable_reason()
    if reason is None:
        return
    if os.environ.get("SYNCD_REQUIRE_SAMBA") == "1":
        pytest.fail(f"SYNCD_REQUIRE_SAMBA=1 but {reason}", pytrace=False)
    pytest.skip(f"Samba AD DC tests skipped: {reason}")


@pytest.fixture(scope="session")
def samba_template(pytestconfig: pytest.Config) -> Path:
    """The provisioned + populated directory, built once and cached across sessions (keyed by version)."""
    _require_samba()
    started = time.monotonic()
    template, timings = samba_dc.cached_template(
        f"base-{ad_dataset.DATASET_VERSION}",
        lambda dc: ad_dataset.populate(dc.host, samba_dc.ADMIN_DN, samba_dc.ADMIN_PASSWORD),
    )
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
    opened: list[LdapSource] = []

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
        source = LdapSource(settings, range_step=range_step)
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


# -- a proxy that lets a DC die part-way through a conversation ---------------------------------------


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to `upstream`. Once `cut_after` bytes have come back from upstream it
    stops forwarding, calls `on_cut` (e.g. kill the DC), and closes every socket and the listener, so the
    client sees its DC vanish in the middle of an answer and cannot reconnect through the proxy."""

    def __init__(self, upstream: tuple[str, int], cut_after: int, on_cut: Callable[[], None]) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.forwarded = 0
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target, counted in ((client, server, False), (server, client, True)):
                thread = threading.Thread(target=self._pump, args=(source, target, counted), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        source.settimeout(0.2)
        while not self.cut.is_set():
            try:
                data = source.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if counted:
                with self._lock:
                    self.forwarded += len(data)
                    reached = self.forwarded >= self.cut_after
                if reached:
                    self._cut()
                    return
            try:
                target.sendall(data)
            except OSError:
                break
        if not self.cut.is_set():
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _cut(self) -> None:
        if self.cut.is_set():
            return
        self.cut.set()
        self.on_cut()
        self.close()

    def close(self) -> None:
        self.cut.set()
        # close() alone does not stop a listener while the accept thread sits in accept(): the kernel keeps
        # the socket listening until that call returns (up to its 0.2 s timeout), so a client reconnecting
        # in that window was accepted and then reset instead of refused. shutdown() stops it at once.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def join(self) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    proxies: list[CuttingProxy] = []

    def make(upstream: tuple[str, int], cut_after: int, on_cut: Callable[[], None]) -> CuttingProxy:
        proxy = CuttingProxy(upstream, cut_after, on_cut)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
        proxy.join()
