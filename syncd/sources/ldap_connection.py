"""Talking to a domain controller: connect to the first DC that answers, secure the channel, bind, search.

Everything ldap3 raises is translated here, at the call site, into a one-line message naming the DC and the
step ("binding to ldaps://dc1:636 as svc-syncd@corp.example.com failed: invalid credentials (49, AD data
52e: wrong user name or password)"). The password is never part of a message, a repr or a log line.

Reading code sees only the small `Directory` protocol (one search page at a time, raw byte values), so the
membership algorithm can be exercised against AD behaviours Samba does not reproduce (forced ranging, page
caps) with a fake, and against a real Samba DC for everything else.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import structlog
from ldap3 import BASE, KERBEROS, NONE, NTLM, SASL, SIMPLE, SUBTREE, SYNC, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPOperationResult,
    LDAPResponseTimeoutError,
    LDAPSessionTerminatedByServerError,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)

from syncd.errors import SourceAuthFailed, SourceUnreachable
from syncd.sources.ldap_settings import LdapSettings

log = structlog.get_logger("syncd.sources.ldap")

Scope = Literal["base", "subtree"]
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"  # RFC 2696 simple paged results
RESULT_NO_SUCH_OBJECT = 32

# AD's "data NNN" in a result-49 message (AcceptSecurityContext sub-codes; learn.microsoft.com
# "Troubleshoot LDAP error 49" / [MS-ADTS] 3.1.1.3.1.8): tells the admin what to fix.
_AD_BIND_DATA = {
    "525": "user not found",
    "52e": "wrong user name or password",
    "530": "not permitted to log on at this time",
    "531": "not permitted to log on from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed",
    "775": "account locked out",
}
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)
# bind results that mean "these credentials or this method will not do": authMethodNotSupported (7),
# strongerAuthRequired (8), confidentialityRequired (13), inappropriateAuthentication (48),
# invalidCredentials (49), insufficientAccessRights (50)
_AUTH_RESULTS = frozenset({7, 8, 13, 48, 49, 50})
_CERT_NAME = re.compile(r"'commonName', '([^']+)'")


@dataclass(frozen=True, slots=True)
class Entry:
    """One search result entry: its DN and raw attribute values, keyed as the server named them
    (e.g. 'member;range=0-1499')."""

    dn: str
    attributes: Mapping[str, Sequence[bytes]]
    # casefolded name without options → the first values sent under it (an entry is asked ~6 times)
    _by_name: dict[str, Sequence[bytes]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Sequence[bytes]] = {}
        for key, values in self.attributes.items():
            by_name.setdefault(key.split(";", 1)[0].casefold(), values)
        object.__setattr__(self, "_by_name", by_name)

    def values(self, name: str) -> Sequence[bytes]:
        """All values of `name` (case-insensitive, ranged keys included)."""
        return self._by_name.get(name.casefold(), ())

    def ranged(self, name: str) -> tuple[str, Sequence[bytes]] | None:
        """(key as sent, values) of `name`, whether whole ('member') or ranged ('member;range=0-1499')."""
        wanted = name.casefold()
        for key, values in self.attributes.items():
            if key.split(";", 1)[0].casefold() == wanted:
                return key, values
        return None

    def text(self, name: str) -> str | None:
        values = self.values(name)
        return values[0].decode("utf-8", "replace") if values else None

    def texts(self, name: str) -> list[str]:
        return [v.decode("utf-8", "replace") for v in self.values(name)]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search. `cookie` is empty on the last page."""

    entries: tuple[Entry, ...]
    cookie: bytes = b""
    references: int = 0  # continuation references (other partitions/domains), not followed


class LdapFailure(Exception):
    """A search failed. `str()` names the step and the DC; `connection_lost` means reconnecting may help;
    `result_code` is the LDAP result code when the server answered with one."""

    def __init__(
        self, message: str, *, connection_lost: bool = False, result_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost
        self.result_code = result_code


class Directory(Protocol):
    """**Protocol**: the read operations membership reading needs from one connected DC."""

    @property
    def url(self) -> str: ...

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: Scope,
        step: str,
        page_size: int | None = None,
        cookie: bytes = b"",
    ) -> Page:
        """One request (one page when `page_size` is given). Raises LdapFailure naming `step`."""
        ...


@dataclass
class LdapDirectory:
    """A read-only connection to the first reachable DC of `settings.urls`, opened by `connect()`."""

    settings: LdapSettings
    _connection: Connection | None = field(default=None, init=False, repr=False)
    _url: str = field(default="", init=False)

    @property
    def url(self) -> str:
        return self._url

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def connect(self) -> str:
        """Connect and bind to the first DC that answers; return its URL.

        Raises SourceAuthFailed at the first DC that refuses the credentials (other DCs would refuse them
        too, and every extra attempt counts towards the account's lockout), SourceUnreachable when no DC
        could be reached, naming each DC and why.
        """
        self.close()
        password = self._password()
        problems: list[str] = []
        for url in self.settings.urls:
            try:
                self._connection = self._connect_one(url, password)
            except _Unreachable as problem:
                problems.append(str(problem))
                log.warning("ldap_dc_unreachable", source=self.settings.name, problem=str(problem))
                continue
            self._url = _target(url)
            if self.settings.is_plaintext(url):
                log.warning(
                    "ldap_plaintext",
                    source=self.settings.name,
                    url=url,
                    message=f"{url} is used without TLS (allow_plaintext = true): "
                    "the bind and every answer travel in clear text",
                )
            return url
        raise SourceUnreachable("; ".join(problems))

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(LDAPException):  # already gone: nothing to release
                connection.unbind()

    def describe(self) -> str:
        """'ldaps://dc1:636 as svc-syncd@corp (TLS, certificate verified)' for `syncd check`."""
        url = self._url
        if urlsplit(url).scheme == "ldaps":
            channel = "LDAPS, certificate verified"
        elif self.settings.starttls:
            channel = "StartTLS, certificate verified"
        else:
            channel = "clear text (allow_plaintext = true)"
        who = self.settings.bind_user or "the Kerberos ticket"
        return f"{url} as {who} ({channel}, {self.settings.auth} bind)"

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: Scope,
        step: str,
        page_size: int | None = None,
        cookie: bytes = b"",
    ) -> Page:
        connection = self._connection
        if connection is None:
            raise LdapFailure(f"{step} failed: not connected", connection_lost=True)
        where = f"{step} from {self._url}"
        try:
            connection.search(
                base,
                ldap_filter,
                search_scope=BASE if scope == "base" else SUBTREE,
                attributes=list(attributes),
                paged_size=page_size,
                paged_cookie=cookie or None,
            )
        except LDAPOperationResult as error:
            raise LdapFailure(
                f"{where} failed: {_result_text(error.result, error.description, error.message)}",
                result_code=error.result,
            ) from None
        except (
            LDAPCommunicationError,
            LDAPResponseTimeoutError,
            LDAPSessionTerminatedByServerError,
        ) as error:
            self.close()
            raise LdapFailure(
                f"{where} failed: {_network_text(error, self.settings.timeout)}", connection_lost=True
            ) from None
        except LDAPException as error:
            self.close()
            raise LdapFailure(f"{where} failed: {_clean(error)}", connection_lost=True) from None
        result: dict[str, Any] = connection.result
        code = int(result.get("result", 0))
        if code != 0:
            # ldap3 does not raise for sizeLimitExceeded/timeLimitExceeded/referral (DO_NOT_RAISE_EXCEPTIONS):
            # an answer cut short must never pass for a complete one
            raise LdapFailure(
                f"{where} failed: {_result_text(code, result.get('description'), result.get('message'))}",
                result_code=code,
            )
        entries: list[Entry] = []
        references = 0
        for item in connection.response or ():
            if item.get("type") != "searchResEntry":
                references += 1
                continue
            raw: Mapping[str, Sequence[bytes] | None] = item.get("raw_attributes", {})
            entries.append(Entry(item["dn"], {k: v or () for k, v in raw.items()}))
        next_cookie = b""
        if page_size is not None:
            control = (result.get("controls") or {}).get(PAGED_RESULTS_OID)
            next_cookie = bytes(control["value"]["cookie"]) if control else b""
        return Page(tuple(entries), next_cookie, references)

    # -- connecting ---------------------------------------------------------------------------------
    def _password(self) -> str | None:
        ref = self.settings.bind_password
        if ref is None:
            return None
        # resolve() refuses an empty secret (an empty simple-bind password is an unauthenticated bind to AD)
        return ref.resolve().reveal()

    def _connect_one(self, url: str, password: str | None) -> Connection:
        settings = self.settings
        parts = urlsplit(url)
        secure = parts.scheme == "ldaps"
        host = parts.hostname or ""
        port = parts.port or (636 if secure else 389)
        target = _target(url)
        tls = Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(settings.ca_bundle) if settings.ca_bundle else None,
            # ldap3 accepts the certificate when it matches the URL's host *or* one of these names
            valid_names=[settings.tls_server_name] if settings.tls_server_name else None,
            sni=settings.tls_server_name or host,
        )
        server = Server(
            host, port=port, use_ssl=secure, tls=tls, get_info=NONE, connect_timeout=settings.timeout
        )
        options: dict[str, Any] = {}
        if settings.auth == "kerberos":
            options = {"authentication": SASL, "sasl_mechanism": KERBEROS}
            if settings.tls_server_name:
                options["sasl_credentials"] = (settings.tls_server_name,)  # the SPN host: ldap/<name>
        else:
            # NTLM is ldap3's "Sicily" bind, which Samba does not implement (cannatag/ldap3 #663, #836): it
            # is exercised only against real AD, never in this project's tests
            options = {
                "authentication": NTLM if settings.auth == "ntlm" else SIMPLE,
                "user": settings.bind_user,
                "password": password,
            }
        connection = Connection(
            server,
            client_strategy=SYNC,
            read_only=True,  # syncd never writes to the directory
            receive_timeout=math.ceil(settings.timeout),  # ldap3 packs it as an integer (SO_RCVTIMEO)
            auto_referrals=False,  # referrals lead to other domains/DCs we were not configured for
            auto_range=False,  # ranging is done (and checked) by the reader
            return_empty_attributes=False,  # else ldap3 (auto_range off) raises KeyError on member;range=
            check_names=False,  # no schema is read (get_info=NONE): values stay raw bytes
            raise_exceptions=True,
            **options,
        )
        try:
            connection.open()
        except LDAPException as error:
            raise _Unreachable(
                f"connecting to {target} failed: {_network_text(error, settings.timeout)}"
            ) from None
        if not secure and settings.starttls:
            try:
                connection.start_tls()
            except LDAPException as error:
                _quietly_close(connection)
                raise _Unreachable(
                    f"starting TLS with {target} failed: {_network_text(error, settings.timeout)}"
                ) from None
        who = settings.bind_user or "the Kerberos ticket's principal"
        try:
            connection.bind()
        except LDAPOperationResult as error:
            _quietly_close(connection)
            reason = _result_text(error.result, error.description, error.message)
            message = f"binding to {target} as {who} failed: {reason}"
            if error.result in _AUTH_RESULTS:
                raise SourceAuthFailed(message) from None
            raise _Unreachable(message) from None
        except (
            LDAPCommunicationError,
            LDAPResponseTimeoutError,
            LDAPSessionTerminatedByServerError,
        ) as error:
            _quietly_close(connection)
            raise _Unreachable(
                f"binding to {target} as {who} failed: {_network_text(error, settings.timeout)}"
            ) from None
        except LDAPException as error:
            _quietly_close(connection)
            raise SourceAuthFailed(f"binding to {target} as {who} failed: {_clean(error)}") from None
        return connection


def _target(url: str) -> str:
    """'ldaps://dc1' → 'ldaps://dc1:636': messages always name the port actually used."""
    parts = urlsplit(url)
    port = parts.port or (636 if parts.scheme == "ldaps" else 389)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


class _Unreachable(Exception):
    """This DC cannot be used; the next one may be."""


def _quietly_close(connection: Connection) -> None:
    with contextlib.suppress(LDAPException):
        connection.unbind()


def _result_text(code: int | None, description: object, message: object) -> str:
    """'invalid credentials (49, AD data 52e: wrong user name or password)'."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(description or "error")).lower()
    text = f"{words} ({code}"
    data = _AD_DATA.search(str(message or ""))
    if data and data.group(1).lower() in _AD_BIND_DATA:
        text += f", AD data {data.group(1)}: {_AD_BIND_DATA[data.group(1).lower()]}"
    elif message:
        text += f": {str(message).strip()}"
    return text + ")"


def _network_text(error: LDAPException, timeout: float) -> str:
    """A socket/TLS failure as a short reason with the fix when there is an obvious one."""
    text = _clean(error)
    lowered = text.lower()
    if "certificate_verify_failed" in lowered:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl.c", 1)[0].strip()
        return f"the DC's TLS certificate is not trusted ({reason}); set ca_bundle to the CA that issued it"
    if isinstance(error, LDAPCertificateError) or "doesn't match any name" in lowered:
        names = _CERT_NAME.findall(text)
        issued = f" (it is issued to {names[0]})" if names else ""
        return (
            f"the DC's TLS certificate does not match the host name{issued}; "
            "set tls_server_name to the name in the certificate"
        )
    if "timed out" in lowered or isinstance(error, LDAPResponseTimeoutError):
        return f"no answer within {timeout:g}s (timeout)"
    if "refused" in lowered:
        return "connection refused"
    if "invalid server address" in lowered:
        return "the host name does not resolve"
    if isinstance(error, LDAPStartTLSError):
        return f"StartTLS was refused or failed: {text}"
    if "reset by peer" in lowered and isinstance(error, LDAPSocketOpenError):
        return "connection reset during the TLS handshake (is this port LDAPS? use ldap:// for port 389)"
    if isinstance(error, LDAPSessionTerminatedByServerError) or "terminated" in lowered or "reset" in lowered:
        return f"the DC closed the connection ({text})"
    return text


def _clean(error: BaseException) -> str:
    """ldap3 wraps messages in stringified tuples: "('socket …',)" → "socket …"."""
    text = str(error)
    for _ in range(3):
        stripped = text.strip()
        if stripped.startswith(("(", "[")) and stripped.endswith((",)", ")", "]")):
            stripped = stripped.strip("()[],").strip()
        stripped = stripped.strip("'\"")
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split())[:300]
