"""Connecting to a real Samba AD DC: TLS (LDAPS, StartTLS), certificate checks, binds, several DCs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from structlog.testing import capture_logs

from syncd.errors import ConfigError, ExitCode, SourceAuthFailed, SourceUnreachable
from syncd.models import Health
from syncd.sources.ldap import LdapSource
from tests.support.cli import closed_port

pytestmark = pytest.mark.samba


def test_ldaps_with_the_ca_bundle_binds_and_reads(make_source: Callable[..., LdapSource]) -> None:
    source = make_source()
    assert source.check() == (
        "ldaps://127.0.0.1:636 as svc-syncd@test.example.com (LDAPS, certificate verified, simple bind)"
    )
    assert source.read_group("GroupC").health is Health.OK


def test_ldaps_without_the_ca_is_refused(make_source: Callable[..., LdapSource]) -> None:
    source = make_source(ca_bundle=None)
    with pytest.raises(SourceUnreachable) as caught:
        source.check()
    assert str(caught.value) == (
        "connecting to ldaps://127.0.0.1:636 failed: the DC's TLS certificate is not trusted "
        "(unable to get local issuer certificate); set ca_bundle to the CA that issued it"
    )
    assert caught.value.exit_code is ExitCode.UNREACHABLE


def test_certificate_for_another_name_is_refused(make_source: Callable[..., LdapSource]) -> None:
    # the certificate says DC1.test.example.com; the URL says 127.0.0.1
    with pytest.raises(SourceUnreachable) as caught:
        make_source(tls_server_name=None).check()
    assert str(caught.value) == (
        "connecting to ldaps://127.0.0.1:636 failed: the DC's TLS certificate does not match the host name "
        "(it is issued to DC1.test.example.com); set tls_server_name to the name in the certificate"
    )


def test_starttls_on_ldap_url_is_the_default(make_source: Callable[..., LdapSource], samba: Any) -> None:
    source = make_source(url=samba.ldap_url)
    assert source.check() == (
        "ldap://127.0.0.1:389 as svc-syncd@test.example.com (StartTLS, certificate verified, simple bind)"
    )
    assert source.read_group("GroupC").health is Health.OK


def test_starttls_validates_the_certificate_too(make_source: Callable[..., LdapSource], samba: Any) -> None:
    with pytest.raises(SourceUnreachable) as caught:
        make_source(url=samba.ldap_url, ca_bundle=None).check()
    assert str(caught.value).startswith(
        "starting TLS with ldap://127.0.0.1:389 failed: the DC's TLS certificate is not trusted"
    )


def test_plaintext_is_refused_unless_allowed_then_warned_every_connect(
    make_source: Callable[..., LdapSource], samba: Any
) -> None:
    with pytest.raises(AssertionError):  # make_source asserts the table parses without problems
        make_source(url=samba.ldap_url, starttls=False)
    source = make_source(url=samba.ldap_url, starttls=False, allow_plaintext=True)
    with capture_logs() as logs:
        assert source.check() == (
            "ldap://127.0.0.1:389 as svc-syncd@test.example.com (clear text (allow_plaintext = true), simple bind)"
        )
        assert source.read_group("GroupC").health is Health.OK
    warnings = [entry for entry in logs if entry["event"] == "ldap_plaintext"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["url"] == "ldap://127.0.0.1:389"


def test_wrong_password_is_auth_failed_naming_dc_user_and_reason(
    make_source: Callable[..., LdapSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng-But-Secret!"
    monkeypatch.setenv("SYNCD_TEST_WRONG_PW", wrong)
    source = make_source(bind_password={"env": "SYNCD_TEST_WRONG_PW"})
    with pytest.raises(SourceAuthFailed) as caught:
        source.read_group("GroupC")
    message = str(caught.value)
    assert message == (
        "binding to ldaps://127.0.0.1:636 as svc-syncd@test.example.com failed: "
        "invalid credentials (49, AD data 52e: wrong user name or password)"
    )
    assert wrong not in message and wrong not in repr(caught.value)
    assert caught.value.exit_code is ExitCode.UNREACHABLE


def test_wrong_password_is_not_retried_on_the_next_dc(
    make_source: Callable[..., LdapSource], monkeypatch: pytest.MonkeyPatch, samba: Any
) -> None:
    # every DC of a domain would refuse it, and each attempt counts towards the account's lockout
    monkeypatch.setenv("SYNCD_TEST_WRONG_PW", "nope")
    source = make_source(url=[samba.ldaps_url, samba.ldap_url], bind_password={"env": "SYNCD_TEST_WRONG_PW"})
    with capture_logs() as logs, pytest.raises(SourceAuthFailed):
        source.check()
    assert [e for e in logs if e["event"] == "ldap_dc_unreachable"] == []


def test_bind_by_dn_works(make_source: Callable[..., LdapSource], dataset: ModuleType) -> None:
    assert make_source(bind_user=dataset.SERVICE_DN).read_group("GroupC").health is Health.OK


def test_empty_password_is_refused_before_any_bind(
    make_source: Callable[..., LdapSource], tmp_path: Path
) -> None:
    # an empty simple-bind password is an *unauthenticated* bind to AD, which may "succeed" with no rights
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        make_source(bind_password={"file": str(empty)}).check()
    assert str(caught.value) == (
        f"/etc/syncd/syncd.toml: sources[0].bind_password: the secret {{ file = '{empty}' }} is empty; "
        "store the secret there"
    )


def test_second_url_is_used_when_the_first_dc_is_down(
    make_source: Callable[..., LdapSource], samba: Any
) -> None:
    down = f"ldaps://127.0.0.1:{closed_port()}"
    source = make_source(url=[down, samba.ldaps_url])
    with capture_logs() as logs:
        read = source.read_group("GroupC")
    assert read.health is Health.OK
    assert source.url == "ldaps://127.0.0.1:636"
    assert [(e["event"], e["problem"]) for e in logs if e["event"] == "ldap_dc_unreachable"] == [
        ("ldap_dc_unreachable", f"connecting to {down} failed: connection refused")
    ]


def test_no_dc_reachable_names_each_one(make_source: Callable[..., LdapSource]) -> None:
    first, second = closed_port(), closed_port()
    source = make_source(url=[f"ldaps://127.0.0.1:{first}", f"ldap://127.0.0.1:{second}"])
    with pytest.raises(SourceUnreachable) as caught:
        source.read_group("GroupC")
    assert str(caught.value) == (
        f"connecting to ldaps://127.0.0.1:{first} failed: connection refused; "
        f"connecting to ldap://127.0.0.1:{second} failed: connection refused"
    )


def test_ldaps_url_pointing_at_the_plain_port_says_so(make_source: Callable[..., LdapSource]) -> None:
    with pytest.raises(SourceUnreachable) as caught:
        make_source(url="ldaps://127.0.0.1:389").check()
    assert str(caught.value) == (
        "connecting to ldaps://127.0.0.1:389 failed: connection reset during the TLS handshake "
        "(is this port LDAPS? use ldap:// for port 389)"
    )
