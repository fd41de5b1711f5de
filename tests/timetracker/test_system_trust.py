"""`ca_bundle = "system"`: the target is verified with the operating system's trust store (truststore). Tested
against the Linux store: OpenSSL's default locations, pointed at a temporary file with `SSL_CERT_FILE` (the
machine's store is never changed), holding the emulator's CA — or another CA, which must be refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.emulators.timetracker import EmulatedUser, TimetrackerEmulator
from syncd.emulators.tls import TestCA

TOKEN = "system-trust-7pace-token"


@pytest.fixture
def https_target() -> Iterator[tuple[TimetrackerEmulator, TestCA]]:
    ca = TestCA()
    emulator = TimetrackerEmulator(
        [EmulatedUser("ann@example.com")],
        token=TOKEN,
        quota_per_second=None,
        quota_per_minute=None,
        ssl_context=ca.server_context(),
    )
    with emulator:
        yield emulator, ca


def write_config(root: Path, url: str, ca_bundle: str | None) -> Path:
    (root / "token.txt").write_text(TOKEN, encoding="utf-8")
    (root / "token.txt").chmod(0o600)
    (root / "members.csv").write_text("group,email\nUsers,ann@example.com\n", encoding="utf-8")
    config = root / "syncd.toml"
    config.write_text(
        f'[target]\nurl = "{url}"\ntoken = {{ file = "token.txt" }}\n'
        + (f"ca_bundle = {ca_bundle}\n" if ca_bundle else "")
        + "requests_per_second = 0\nrequests_per_minute = 0\n\n"
        '[[sources]]\nname = "hr"\ntype = "file"\npath = "members.csv"\n\n'
        '[[rules]]\nsource = "hr"\ngroup = "Users"\nrole = "Team"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def system_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private 'system store': OpenSSL reads SSL_CERT_FILE / SSL_CERT_DIR at each context's creation."""
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(store / "ca-certificates.crt"))
    monkeypatch.setenv("SSL_CERT_DIR", str(store))
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return store / "ca-certificates.crt"


@pytest.mark.parametrize(
    ("in_store", "ca_bundle", "code"),
    [
        ("the emulator's CA", '"system"', 0),
        ("another CA", '"system"', 5),
        # the default (certifi's bundle) does not read the OS store: "system" is what made the difference
        ("the emulator's CA", None, 5),
    ],
)
def test_system_verifies_with_what_the_operating_systems_store_holds(
    tmp_path: Path,
    https_target: tuple[TimetrackerEmulator, TestCA],
    system_store: Path,
    capsys: pytest.CaptureFixture[str],
    in_store: str,
    ca_bundle: str | None,
    code: int,
) -> None:
    emulator, ca = https_target
    (ca if in_store == "the emulator's CA" else TestCA()).write_ca(system_store)
    config = write_config(tmp_path, emulator.base_url, ca_bundle)
    assert main(["check", "-c", str(config)]) == code
    out = capsys.readouterr().out
    if code == 0:
        assert "ok    target timetracker" in out  # reached over verified TLS
    else:
        assert "certificate verify failed" in out


def test_ca_bundle_of_the_wrong_type_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "https://contoso.timehub.7pace.com", "42")
    assert main(["check", "--offline", "-c", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f'syncd: error: {config}: target.ca_bundle: expected a path to a PEM file, or "system", got an integer 42'
    ]
