"""The settings of one `[[sources]] type = "ldap"` table (Active Directory), validated once, then frozen.

Transport security is decided here, not at connect time: `ldaps://` validates the certificate, `ldap://`
upgrades with StartTLS, and a connection that would carry the bind in clear text is a configuration error
unless the admin wrote `allow_plaintext = true` (every run then logs a warning).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from syncd.config_section import Section
from syncd.secrets import SecretRef

Auth = Literal["simple", "kerberos", "ntlm"]
AUTH_METHODS: tuple[Auth, ...] = ("simple", "kerberos", "ntlm")
DEFAULT_IDENTITY_ATTRIBUTES = ("mail", "userPrincipalName", "proxyAddresses")
AD_MAX_PAGE_SIZE = 1000  # AD's MaxPageSize (LDAP policy, default 1000): a larger page is silently cut
# an LDAP attribute description (RFC 4512 descr): letter, then letters, digits, hyphens
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_DN_START = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)\s*=")
_BIND_USER_EXAMPLE = {
    "simple": "e.g. 'svc-syncd@corp.example.com' or a DN",
    "ntlm": "e.g. 'CORP\\svc-syncd'",
    "kerberos": "",
}


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """One Active Directory source. `urls` are domain controllers tried in order."""

    name: str
    urls: tuple[str, ...]
    base_dn: str
    bind_user: str | None = None
    bind_password: SecretRef | None = None
    auth: Auth = "simple"
    ca_bundle: Path | None = None
    tls_server_name: str | None = None
    starttls: bool = True
    allow_plaintext: bool = False
    identity_attributes: tuple[str, ...] = DEFAULT_IDENTITY_ATTRIBUTES
    include_disabled: bool = False
    timeout: float = 60.0
    page_size: int = AD_MAX_PAGE_SIZE
    type: str = "ldap"

    def is_plaintext(self, url: str) -> bool:
        return urlsplit(url).scheme == "ldap" and not self.starttls


def parse_ldap_settings(section: Section, name: str) -> LdapSettings:
    """Read an `[[sources]] type = "ldap"` table (name and type already read); ends with `finish()`."""
    urls = section.url_list("url", schemes=("ldaps", "ldap"))
    base_dn = section.str("base_dn", expected="a DN such as 'DC=corp,DC=example,DC=com'")
    if base_dn and not looks_like_dn(base_dn):
        section.error("base_dn", f"{base_dn!r} is not a DN; write it like 'DC=corp,DC=example,DC=com'")
    auth_text = section.str("auth", "simple", choices=AUTH_METHODS)
    auth: Auth = next((a for a in AUTH_METHODS if a == auth_text), "simple")
    bind_user = section.optional_str("bind_user", expected="a user name such as 'svc-syncd@corp.example.com'")
    bind_password: SecretRef | None = None
    if auth == "kerberos":
        if section.has("bind_password"):
            section.secret("bind_password", required=False)
            section.error(
                "bind_password",
                "not used with auth = 'kerberos' (the ticket cache or keytab is used); remove it",
            )
    else:
        if bind_user is None and not section.has("bind_user"):
            section.error(
                "bind_user",
                f"required with auth = {auth!r} ({_BIND_USER_EXAMPLE[auth]})",
            )
        bind_password = section.secret("bind_password")
    if auth == "ntlm" and bind_user is not None and "\\" not in bind_user:
        section.error("bind_user", f"auth = 'ntlm' needs DOMAIN\\user, got {bind_user!r}")
    extra_problem = _missing_extra(auth)
    if extra_problem:
        section.error("auth", extra_problem)

    ca_bundle = section.path("ca_bundle", kind="file")
    tls_server_name = section.optional_str(
        "tls_server_name", expected="a host name such as 'dc1.corp.example.com'"
    )
    starttls = section.bool("starttls", True)
    allow_plaintext = section.bool("allow_plaintext", False)
    plain = [url for url in urls if urlsplit(url).scheme == "ldap"] if not starttls else []
    if plain and not allow_plaintext:
        section.error(
            "starttls",
            f"{plain[0]} without StartTLS would send the bind and every answer in clear text; "
            "remove starttls = false, use ldaps://, or set allow_plaintext = true",
        )

    identity_attributes = section.str_list("identity_attributes", DEFAULT_IDENTITY_ATTRIBUTES)
    if not identity_attributes:
        section.error("identity_attributes", 'must name at least one attribute, e.g. ["mail"]')
    for attribute in identity_attributes:
        if not _ATTRIBUTE_NAME.match(attribute):
            section.error("identity_attributes", f"{attribute!r} is not an LDAP attribute name")
    include_disabled = section.bool("include_disabled", False)
    timeout = section.number("timeout", 60.0, minimum=1.0)
    page_size = section.int("page_size", AD_MAX_PAGE_SIZE, minimum=1, maximum=AD_MAX_PAGE_SIZE)
    section.finish()
    return LdapSettings(
        name=name,
        urls=urls,
        base_dn=base_dn,
        bind_user=bind_user,
        bind_password=bind_password,
        auth=auth,
        ca_bundle=ca_bundle,
        tls_server_name=tls_server_name,
        starttls=starttls,
        allow_plaintext=allow_plaintext,
        identity_attributes=identity_attributes,
        include_disabled=include_disabled,
        timeout=timeout,
        page_size=page_size,
    )


def looks_like_dn(text: str) -> bool:
    """'CN=Team #1,OU=Groups,…' is a DN; 'Team #1' is a name. Deliberately loose (RFC 4514 syntax is
    checked by the DC; ldap3's parse_dn wrongly demands '#' be escaped mid-value, as AD does not):
    a DN starts with an attribute type and '=', which no sAMAccountName may contain."""
    return _DN_START.match(text) is not None


def _missing_extra(auth: Auth) -> str | None:
    """The one-line problem when `auth` needs an optional package that is not installed."""
    if auth == "kerberos":
        package = "winkerberos" if sys.platform == "win32" else "gssapi"
        if importlib.util.find_spec(package) is None:
            return f"'kerberos' needs the optional package {package}: pip install syncd[kerberos]"
    if auth == "ntlm" and not _md4_available():
        # ldap3 2.9.1 computes NTLM hashes with MD4, which OpenSSL 3 no longer ships; it falls back to
        # pycryptodome's Crypto.Hash.MD4 (ldap3/utils/ntlm.py, ldap3 2.9.1)
        return "'ntlm' needs the optional package pycryptodome (MD4): pip install syncd[ntlm]"
    return None


def _md4_available() -> bool:
    try:
        hashlib.new("md4")
    except ValueError:
        return importlib.util.find_spec("Crypto") is not None
    return True
