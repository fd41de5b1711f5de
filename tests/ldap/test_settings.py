"""Parsing `[[sources]] type = "ldap"` tables: defaults, every refusal as one line naming the key."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from syncd.config_section import Section
from syncd.secrets import SecretRef
from syncd.sources import source_type
from syncd.sources.ldap_settings import DEFAULT_IDENTITY_ATTRIBUTES, LdapSettings, parse_ldap_settings

FILE = Path("/etc/syncd/syncd.toml")
AT = "/etc/syncd/syncd.toml: sources[0]"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LDAP_PW", "not-used-here")


def parse(values: dict[str, Any]) -> tuple[LdapSettings, list[str]]:
    problems: list[str] = []
    settings = parse_ldap_settings(Section(values, "sources[0]", FILE, problems), "corp")
    return settings, problems


def minimal(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "url": "ldaps://dc1.corp.example.com",
        "bind_user": "svc-syncd@corp.example.com",
        "bind_password": {"env": "LDAP_PW"},
        "base_dn": "DC=corp,DC=example,DC=com",
    }
    values.update(overrides)
    return values


def test_minimal_table_gets_the_documented_defaults() -> None:
    settings, problems = parse(minimal())
    assert problems == []
    assert settings == LdapSettings(
        name="corp",
        urls=("ldaps://dc1.corp.example.com",),
        base_dn="DC=corp,DC=example,DC=com",
        bind_user="svc-syncd@corp.example.com",
        bind_password=SecretRef("env", "LDAP_PW", f"{AT}.bind_password"),
        auth="simple",
        ca_bundle=None,
        tls_server_name=None,
        starttls=True,
        allow_plaintext=False,
        identity_attributes=("mail", "userPrincipalName", "proxyAddresses"),
        include_disabled=False,
        timeout=60.0,
        page_size=1000,
    )
    assert settings.identity_attributes == DEFAULT_IDENTITY_ATTRIBUTES
    assert settings.type == "ldap"


def test_registry_exposes_the_ldap_source_type() -> None:
    kind = source_type("ldap")
    problems: list[str] = []
    settings = kind.parse(Section(minimal(), "sources[0]", FILE, problems), "corp")
    assert problems == []
    assert isinstance(settings, LdapSettings)


def test_url_may_list_several_domain_controllers_in_order() -> None:
    settings, problems = parse(
        minimal(url=["ldaps://dc1.corp.example.com:3269", "ldap://dc2.corp.example.com/"])
    )
    assert problems == []
    assert settings.urls == ("ldaps://dc1.corp.example.com:3269", "ldap://dc2.corp.example.com")


def test_url_with_another_scheme_is_refused() -> None:
    _, problems = parse(minimal(url=["ldaps://dc1", "https://dc2"]))
    assert problems == [f"{AT}.url: 'https://dc2' is not a URL (ldaps://… or ldap://…)"]


def test_url_is_required() -> None:
    values = minimal()
    del values["url"]
    _, problems = parse(values)
    assert problems == [f"{AT}.url: required (a URL or an array of URLs (ldaps://… or ldap://…))"]


def test_ldap_url_without_starttls_needs_allow_plaintext() -> None:
    _, problems = parse(minimal(url="ldap://dc1.corp.example.com", starttls=False))
    assert problems == [
        f"{AT}.starttls: ldap://dc1.corp.example.com without StartTLS would send the bind and every answer "
        "in clear text; remove starttls = false, use ldaps://, or set allow_plaintext = true"
    ]
    settings, problems = parse(
        minimal(url="ldap://dc1.corp.example.com", starttls=False, allow_plaintext=True)
    )
    assert problems == []
    assert settings.is_plaintext("ldap://dc1.corp.example.com")


def test_ldap_url_uses_starttls_by_default() -> None:
    settings, problems = parse(minimal(url="ldap://dc1.corp.example.com"))
    assert problems == []
    assert settings.starttls is True
    assert not settings.is_plaintext("ldap://dc1.corp.example.com")
    assert not settings.is_plaintext("ldaps://dc1.corp.example.com")


def test_page_size_above_ad_hard_cap_is_refused() -> None:
    _, problems = parse(minimal(page_size=5000))
    assert problems == [f"{AT}.page_size: 5000 is out of range: must be between 1 and 1000"]


def test_unknown_key_gets_did_you_mean() -> None:
    _, problems = parse(minimal(include_disable=True))
    assert len(problems) == 1
    assert problems[0].startswith(f"{AT}.include_disable: unknown key; did you mean 'include_disabled'?")


def test_password_written_into_the_config_is_refused_without_echoing_it() -> None:
    _, problems = parse(minimal(bind_password="hunter2-secret"))
    assert len(problems) == 1
    assert problems[0].startswith(f"{AT}.bind_password: secrets must not be written into the config")
    assert "hunter2" not in problems[0]


def test_simple_bind_needs_user_and_password() -> None:
    values = minimal()
    del values["bind_user"], values["bind_password"]
    _, problems = parse(values)
    assert problems == [
        f"{AT}.bind_user: required with auth = 'simple' (e.g. 'svc-syncd@corp.example.com' or a DN)",
        f'{AT}.bind_password: required (a secret reference: {{ env = "NAME" }}, {{ file = "path" }}, '
        '{ keyring = "service/user" } or { credential = "name" })',
    ]


def test_bad_base_dn_and_identity_attribute_are_reported_together() -> None:
    _, problems = parse(minimal(base_dn="corp.example.com", identity_attributes=["mail", "e mail"]))
    assert problems == [
        f"{AT}.base_dn: 'corp.example.com' is not a DN; write it like 'DC=corp,DC=example,DC=com'",
        f"{AT}.identity_attributes: 'e mail' is not an LDAP attribute name",
    ]


def test_empty_identity_attributes_is_refused() -> None:
    _, problems = parse(minimal(identity_attributes=[]))
    assert problems == [f'{AT}.identity_attributes: must name at least one attribute, e.g. ["mail"]']


@pytest.mark.skipif(importlib.util.find_spec("gssapi") is not None, reason="gssapi is installed here")
def test_kerberos_without_the_optional_package_names_the_extra() -> None:
    values = minimal(auth="kerberos")
    del values["bind_password"]
    _, problems = parse(values)
    assert problems == [
        f"{AT}.auth: 'kerberos' needs the optional package gssapi: pip install syncd[kerberos]"
    ]


def test_kerberos_refuses_a_password() -> None:
    _, problems = parse(minimal(auth="kerberos"))
    assert (
        f"{AT}.bind_password: not used with auth = 'kerberos' (the ticket cache or keytab is used); remove it"
        in problems
    )


def test_ntlm_needs_domain_backslash_user() -> None:
    _, problems = parse(minimal(auth="ntlm"))
    assert f"{AT}.bind_user: auth = 'ntlm' needs DOMAIN\\user, got 'svc-syncd@corp.example.com'" in problems


def test_unknown_auth_gets_did_you_mean() -> None:
    _, problems = parse(minimal(auth="kerberos5"))
    assert (
        problems[0]
        == f"{AT}.auth: 'kerberos5' is not one of: simple, kerberos, ntlm (did you mean 'kerberos'?)"
    )


def test_ca_bundle_is_resolved_next_to_the_config_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "corp-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    problems: list[str] = []
    settings = parse_ldap_settings(
        Section(minimal(ca_bundle="corp-ca.pem"), "sources[0]", tmp_path / "syncd.toml", problems), "corp"
    )
    assert problems == []
    assert settings.ca_bundle == tmp_path / "corp-ca.pem"
    _, problems = parse(minimal(ca_bundle="missing.pem"))
    assert problems == [f"{AT}.ca_bundle: file /etc/syncd/missing.pem does not exist"]


def test_timeout_and_include_disabled_are_read() -> None:
    settings, problems = parse(
        minimal(timeout=5, include_disabled=True, tls_server_name="dc1.corp.example.com")
    )
    assert problems == []
    assert (settings.timeout, settings.include_disabled, settings.tls_server_name) == (
        5.0,
        True,
        "dc1.corp.example.com",
    )
