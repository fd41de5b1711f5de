"""Entra ID service-principal tokens through msal, behind one small typed adapter.

msal is untyped and reports failures as dicts rather than exceptions (docs/contract.md §4), so every msal call
lives here: `EntraTokenProvider.token(scope)` returns a `str` or raises `SourceAuthFailed` (Entra refused: the
AADSTS line, never the secret) / `SourceUnreachable` (network, TLS, authority down) / `ConfigError` (a key,
certificate or PFX that cannot be used). One `ConfidentialClientApplication` per provider, and one provider
per configured source, built lazily on the first token: discovery is a network call and must happen inside
error handling, not at config time.

msal already caches tokens (≥ 1.23 `acquire_token_for_client` looks in its cache first) and replays
throttled token-endpoint failures from its own cache for the Retry-After window
(msal/throttled_http_client.py), so no retry loop is added around it.

Credentials (keys of a `[[sources]]` table, read by `read_entra_credentials`):
  tenant_id, client_id                         required together; tenant_id must name a tenant (GUID or
                                               domain): `common`/`organizations` are refused, as msal warns
  client_secret = { env = "…" }                a client secret, or
  certificate = { file = "syncd.pem" }         PEM with the private key and (preferably) its certificate;
  thumbprint = "A1B2…"                         SHA-1 hex, needed only when the PEM holds no certificate, or
  pfx = "syncd.pfx"                            a PKCS#12 file (msal ≥ 1.29: SHA-256 thumbprint, PS256)
  certificate_passphrase = { env = "…" }       optional, for an encrypted PEM key or a PFX
  authority_url = "https://login.microsoftonline.com"   override for sovereign clouds or an emulator
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from syncd.config_section import Section
from syncd.errors import ConfigError, SourceAuthFailed, SourceUnreachable
from syncd.http import HttpOptions, tls_reason
from syncd.secrets import Secret, SecretRef
from syncd.system_trust import SystemTrustAdapter

log = structlog.get_logger("syncd.entra_auth")

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
"""The Azure DevOps application id, not its resource URI (MicrosoftDocs/azure-devops-docs,
service-principal-managed-identity.md)."""

# Authority hosts msal knows; for any other host (an emulator, a private endpoint) msal's instance
# discovery against login.microsoftonline.com is switched off and OIDC discovery on the host itself is used.
_KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.us",
        "login.microsoftonline.de",
    }
)
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_CREDENTIAL_KEYS = ("client_secret", "certificate", "pfx")


@dataclass(frozen=True, slots=True)
class EntraCredentials:
    """A service principal: who it is (tenant, client id) and how it proves it (exactly one of three)."""

    tenant_id: str
    client_id: str
    where: str  # "syncd.toml: sources[1]" — prefix for messages about these keys
    client_secret: SecretRef | None = None
    certificate: SecretRef | None = None
    thumbprint: str | None = None
    pfx: Path | None = None
    passphrase: SecretRef | None = None
    authority_url: str = DEFAULT_AUTHORITY

    @property
    def authority(self) -> str:
        return f"{self.authority_url}/{self.tenant_id}"

    @property
    def method(self) -> str:
        if self.client_secret is not None:
            return "client secret"
        if self.certificate is not None:
            return "certificate"
        return "PFX certificate"


def read_entra_credentials(section: Section, *, required: bool) -> EntraCredentials | None:
    """Read the service-principal keys. With `required=False`, None when none of them is written."""
    tenant_id = section.optional_str("tenant_id")
    client_id = section.optional_str("client_id")
    client_secret = section.secret("client_secret", required=False)
    certificate = section.secret("certificate", required=False)
    thumbprint = section.optional_str("thumbprint", expected="a SHA-1 thumbprint (40 hex digits)")
    pfx = section.path("pfx", kind="file")
    passphrase = section.secret("certificate_passphrase", required=False)
    authority_url = section.url("authority_url", DEFAULT_AUTHORITY, schemes=("https",)) or DEFAULT_AUTHORITY

    written = [k for k in ("tenant_id", "client_id", *_CREDENTIAL_KEYS) if section.has(k)]
    if not written and not required:
        for key in ("thumbprint", "certificate_passphrase", "authority_url"):
            if section.has(key):
                section.error(key, "only meaningful with tenant_id, client_id and a credential")
        return None
    if not tenant_id and not section.has("tenant_id"):
        section.error("tenant_id", "required for a service principal (the Entra tenant id or domain)")
    elif tenant_id and tenant_id.lower() in _MULTI_TENANT:
        section.error("tenant_id", f"{tenant_id!r} is not a tenant; write the tenant id (a GUID) or domain")
    if not client_id and not section.has("client_id"):
        section.error("client_id", "required for a service principal (the application (client) id)")
    given = [k for k in _CREDENTIAL_KEYS if section.has(k)]
    if len(given) != 1:
        choice = "client_secret, certificate or pfx"
        message = f"exactly one of {choice} is required" if not given else f"use only one of {choice}"
        section.error(given[1] if len(given) > 1 else "client_secret", message)
    if thumbprint is not None:
        cleaned = thumbprint.replace(":", "").replace(" ", "").upper()
        if len(cleaned) != 40 or any(c not in "0123456789ABCDEF" for c in cleaned):
            section.error("thumbprint", "expected the certificate's SHA-1 thumbprint: 40 hex digits")
        elif certificate is None:
            section.error("thumbprint", "only used with certificate (a PFX carries its own)")
        thumbprint = cleaned
    if passphrase is not None and certificate is None and pfx is None:
        section.error("certificate_passphrase", "only used with certificate or pfx")
    if pfx is not None:
        # the PFX holds a private key: the same permission rule as a secret file
        problem = SecretRef("file", str(pfx), section.at("pfx")).check()
        if problem:
            section.problems.append(problem)
    return EntraCredentials(
        tenant_id=tenant_id or "",
        client_id=client_id or "",
        where=section.at("").rstrip("."),
        client_secret=client_secret,
        certificate=certificate,
        thumbprint=thumbprint,
        pfx=pfx,
        passphrase=passphrase,
        authority_url=authority_url,
    )


class _PinnedSession(requests.Session):
    """The session msal sends through: the configured CA bundle and timeout on *every* request.

    msal sets `Session.verify`, which `REQUESTS_CA_BUNDLE` silently overrides (psf/requests#3829); passing
    `verify` per request makes the configured bundle win, as in syncd.http. One retry on connection
    errors, as msal's own default session does (application.py).
    """

    def __init__(self, options: HttpOptions) -> None:
        super().__init__()
        self._verify_with: str | bool = str(options.ca_bundle) if options.ca_bundle else True
        self._timeout = options.timeout
        if options.proxy:
            self.proxies = {"http": options.proxy, "https": options.proxy}
        # one retry for a dropped connection, none for anything else: a certificate that failed verification
        # fails again the same way (urllib3 counts TLS errors as "other")
        adapter = (SystemTrustAdapter if options.system_trust else requests.adapters.HTTPAdapter)(
            max_retries=requests.adapters.Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0)
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._verify_with
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class EntraTokenProvider:
    """Client-credential tokens for one configured source. Thread-safe; `token()` is cheap after the first
    call (msal's in-memory cache answers until shortly before expiry)."""

    def __init__(self, credentials: EntraCredentials, options: HttpOptions, *, describe: str) -> None:
        self.credentials = credentials
        self._options = options
        self._describe = describe  # 'source "aad"'
        self._app: Any = None  # msal.ConfidentialClientApplication, built on first use
        self._session: _PinnedSession | None = None
        self._secret_values: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def auth_header(self, scope: str) -> Callable[[], str]:
        """An `HttpClient` auth callback: 'Bearer <token>' for `scope`, fetched per request."""
        return lambda: f"Bearer {self.token(scope)}"

    def token(self, scope: str) -> str:
        with self._lock:
            app = self._app or self._build()
            step = f"{self._describe}: acquiring an Entra ID token for {scope}"
            try:
                result = app.acquire_token_for_client(scopes=[scope])
            except requests.exceptions.SSLError as error:
                raise SourceUnreachable(self._tls_message(step, error)) from None
            except requests.exceptions.RequestException as error:
                raise SourceUnreachable(
                    f"{step}: {self.credentials.authority_url} cannot be reached ({_short(error)})"
                ) from None
            except ValueError as error:  # a token endpoint answering non-JSON (json.JSONDecodeError)
                raise SourceUnreachable(
                    f"{step}: {self.credentials.authority_url} answered nonsense "
                    f"({self._scrub(_short(error))})"
                ) from None
            return self._access_token(result, step)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._app = None
            self._session = None

    # -- internals ------------------------------------------------------------------------------------
    def _build(self) -> Any:
        import msal

        credential = self._client_credential()
        creds = self.credentials
        session = _PinnedSession(self._options)
        host = urlsplit(creds.authority_url).hostname or ""
        step = f"{self._describe}: discovering the Entra ID authority {creds.authority}"
        try:
            app = msal.ConfidentialClientApplication(
                creds.client_id,
                client_credential=credential,
                authority=creds.authority,
                http_client=session,
                # a host msal does not know needs OIDC discovery on itself, not instance discovery
                # (docs/contract.md §4)
                instance_discovery=None if host in _KNOWN_AUTHORITY_HOSTS else False,
            )
        except requests.exceptions.SSLError as error:
            session.close()
            raise SourceUnreachable(self._tls_message(step, error)) from None
        except requests.exceptions.HTTPError as error:  # 5xx on discovery (raise_for_status)
            session.close()
            raise SourceUnreachable(f"{step}: {_short(error)}") from None
        except requests.exceptions.RequestException as error:
            session.close()
            raise SourceUnreachable(f"{step}: cannot be reached ({_short(error)})") from None
        except ValueError as error:
            # "Unable to get authority configuration for …": a 4xx, which Entra answers for an unknown tenant
            session.close()
            raise SourceAuthFailed(
                f"{step}: the authority refused discovery ({self._scrub(_short(error))}); "
                f"check tenant_id ({creds.where}.tenant_id) and authority_url"
            ) from None
        self._app = app
        self._session = session
        return app

    def _client_credential(self) -> str | dict[str, str]:
        creds = self.credentials
        passphrase = creds.passphrase.resolve() if creds.passphrase else None
        if creds.client_secret is not None:
            secret = creds.client_secret.resolve().reveal()
            self._secret_values = (secret,)
            return secret
        if creds.certificate is not None:
            return self._pem_credential(creds.certificate.resolve(), passphrase)
        assert creds.pfx is not None  # read_entra_credentials guarantees exactly one credential
        return self._pfx_credential(creds.pfx, passphrase)

    def _pem_credential(self, pem: Secret, passphrase: Secret | None) -> dict[str, str]:
        where = f"{self.credentials.where}.certificate"
        text = pem.reveal()
        password = passphrase.reveal().encode() if passphrase else None
        try:
            serialization.load_pem_private_key(text.encode(), password=password)
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"{where}: no usable PEM private key ({_crypto_reason(error)}); the file must hold "
                "'-----BEGIN PRIVATE KEY-----' (and certificate_passphrase if the key is encrypted)"
            ) from None
        try:
            certificates = x509.load_pem_x509_certificates(text.encode())
        except ValueError:
            certificates = []
        credential = {"private_key": text}
        if password is not None:
            credential["passphrase"] = passphrase.reveal() if passphrase else ""
        if certificates:
            cert_pem = certificates[0].public_bytes(serialization.Encoding.PEM).decode()
            credential["public_certificate"] = cert_pem
        if self.credentials.thumbprint:
            credential["thumbprint"] = self.credentials.thumbprint
        elif not certificates:
            raise ConfigError(
                f"{where}: the PEM holds no certificate, so its thumbprint is unknown; append the "
                f"certificate to the file or set thumbprint ({self.credentials.where}.thumbprint)"
            )
        self._secret_values = tuple(v for v in (text, password.decode() if password else "") if v)
        return credential

    def _pfx_credential(self, path: Path, passphrase: Secret | None) -> dict[str, str]:
        where = f"{self.credentials.where}.pfx"
        password = passphrase.reveal().encode() if passphrase else None
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(path.read_bytes(), password)
        except OSError as error:
            raise ConfigError(f"{where}: {path} cannot be read: {error.strerror}") from None
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"{where}: {path} cannot be opened ({_crypto_reason(error)}); "
                f"check certificate_passphrase ({self.credentials.where}.certificate_passphrase)"
            ) from None
        if key is None or cert is None:
            raise ConfigError(f"{where}: {path} must contain both the private key and its certificate")
        credential = {"private_key_pfx_path": str(path)}
        if passphrase is not None:
            credential["passphrase"] = passphrase.reveal()
            self._secret_values = (passphrase.reveal(),)
        return credential

    def _access_token(self, result: object, step: str) -> str:
        if isinstance(result, dict):
            token = result.get("access_token")
            if isinstance(token, str) and token:
                return token
            error = str(result.get("error") or "no access_token")
            description = str(result.get("error_description") or "")
        else:
            error, description = "unexpected answer", type(result).__name__
        # Entra puts the AADSTS line first, then Trace ID / Correlation ID / Timestamp lines
        first_line = description.strip().splitlines()[0] if description.strip() else ""
        detail = self._scrub(f"{error}: {first_line}" if first_line else error)
        creds = self.credentials
        raise SourceAuthFailed(
            f"{step}: Entra ID refused client {creds.client_id} of tenant {creds.tenant_id} "
            f"({creds.method}): {detail}; check {creds.where}.tenant_id, client_id and the {creds.method}"
        )

    def _scrub(self, text: str) -> str:
        """Belt and braces: never let a secret value reach a message, whatever the server echoed."""
        for value in self._secret_values:
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def _tls_message(self, step: str, error: Exception) -> str:
        return (
            f"{step}: TLS verification of {self.credentials.authority_url} failed ({tls_reason(error)}); "
            "set ca_bundle to the PEM file of the CA that signed its certificate"
        )


def sha1_thumbprint(certificate_pem: str) -> str:
    """The SHA-1 thumbprint (upper-case hex) Azure portals show for a certificate: for docs and tests."""
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def _crypto_reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:120]


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "…"
