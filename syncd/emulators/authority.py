"""An Entra ID (OIDC) authority emulator: just enough of login.microsoftonline.com for msal's
client-credentials flow (docs/contract.md §4 "minimal emulator contract").

- `GET /{tenant}/v2.0/.well-known/openid-configuration` → authorization, token endpoints and issuer on this
  server (msal's OIDC discovery; it needs `instance_discovery=False` for a non-Microsoft host, which
  syncd.entra_auth sets). An unknown tenant → 400 `invalid_tenant` AADSTS90002, as Entra answers.
- `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, `client_id`, `scope` and either
  `client_secret` or a `client_assertion` JWT (`client_assertion_type=…jwt-bearer`). The assertion is verified
  like Entra does: signature against a certificate registered for the app (found by `x5t` SHA-1 or
  `x5t#S256` thumbprint), `aud` = the token endpoint, `iss` = `sub` = client id, not expired.
  Errors are Entra's JSON shape `{"error", "error_description": "AADSTS…: …\\r\\nTrace ID: …", "error_codes"}`
  with 401 for a bad client credential and 400 otherwise (status codes and exact texts are [U]).
- Issued tokens are opaque random strings remembered with their client and scope, so the Graph and Azure
  DevOps emulators can accept exactly the tokens issued for them (`token_check(audience)`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from syncd.emulators.cloud import CloudEmulator, TokenCheck
from syncd.emulators.faults import Faults
from syncd.emulators.http_server import Request, Response

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class RegisteredApp:
    """An app registration: its tenant, and its client secret and/or certificates (PEM)."""

    tenant: str
    secret: str | None = None
    certificates: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    tenant: str
    client_id: str
    scope: str


class AuthorityEmulator(CloudEmulator):
    def __init__(self, apps: dict[str, RegisteredApp], faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.apps = apps
        self.issued: dict[str, IssuedToken] = {}
        self._issued_lock = threading.Lock()

    @property
    def tenants(self) -> set[str]:
        return {app.tenant for app in self.apps.values()}

    def token_check(self, audience: str | None = None) -> TokenCheck:
        """For a resource emulator: was this token issued here (for a scope starting with `audience`)?"""

        def check(token: str) -> bool:
            with self._issued_lock:
                issued = self.issued.get(token)
            return issued is not None and (audience is None or issued.scope.startswith(audience))

        return check

    def tokens_issued(self, client_id: str | None = None) -> int:
        with self._issued_lock:
            return sum(1 for t in self.issued.values() if client_id is None or t.client_id == client_id)

    # -- routes -----------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] not in self.tenants:
            tenant = parts[0] if parts else ""
            return _error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        tenant, rest = parts[0], "/".join(parts[1:])
        if request.method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            base = f"{self.base_url}/{tenant}"
            return Response.json(
                200,
                {
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "issuer": f"{base}/v2.0",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                    "response_types_supported": ["code", "id_token", "token"],
                },
            )
        if request.method == "POST" and rest == "oauth2/v2.0/token":
            return self._token(request, tenant)
        return Response.json(404, {"error": "not_found", "error_description": f"no route {request.path}"})

    def _token(self, request: Request, tenant: str) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            return _error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)
        if app is None or app.tenant != tenant:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This "
                "can happen if the application has not been installed by the administrator of the tenant.",
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return _error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        if "client_secret" in form:
            if app.secret is None or not secrets.compare_digest(form["client_secret"], app.secret):
                return _error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is "
                    "the client secret value, not the client secret ID, for a secret added to app "
                    f"'{client_id}'.",
                )
        elif form.get("client_assertion_type") == ASSERTION_TYPE and form.get("client_assertion"):
            problem = self._check_assertion(form["client_assertion"], app, client_id, tenant)
            if problem is not None:
                return _error(401, "invalid_client", problem[0], problem[1])
        else:
            return _error(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' "
                "grant type.",
            )
        token = secrets.token_urlsafe(32)
        with self._issued_lock:
            self.issued[token] = IssuedToken(tenant, client_id, scope)
        return Response.json(
            200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    def _check_assertion(
        self, assertion: str, app: RegisteredApp, client_id: str, tenant: str
    ) -> tuple[int, str] | None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return 50027, "JWT token is invalid or malformed."
        for pem in app.certificates:
            cert = x509.load_pem_x509_certificate(pem.encode())
            der = cert.public_bytes(serialization.Encoding.DER)
            sha1 = _b64url(hashlib.sha1(der).digest())
            sha256 = _b64url(hashlib.sha256(der).digest())
            # compared without base64 padding: msal pads x5t#S256, RFC 7515 does not
            if (
                str(header.get("x5t", "")).rstrip("=") != sha1
                and str(header.get("x5t#S256", "")).rstrip("=") != sha256
            ):
                continue
            try:
                claims = jwt.decode(
                    assertion,
                    key=cert.public_key(),  # type: ignore[arg-type]  # an RSA key from the registered cert
                    algorithms=["RS256", "PS256"],
                    audience=f"{self.base_url}/{tenant}/oauth2/v2.0/token",
                    issuer=client_id,
                    options={"require": ["exp", "aud", "iss", "sub"]},
                )
            except jwt.ExpiredSignatureError:
                return 700024, "Client assertion is not within its valid time range."
            except jwt.InvalidAudienceError:
                return 700024, "Client assertion audience claim does not match Realm issuer."
            except jwt.PyJWTError:
                return 700027, "Client assertion failed signature validation."
            if claims.get("sub") != client_id:
                return 700023, "Client assertion subject does not match the client id."
            return None
        thumbprint = header.get("x5t") or header.get("x5t#S256") or "none"
        return (
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{thumbprint}']",
        )


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _error(status: int, error: str, code: int, text: str) -> Response:
    now = datetime.now(UTC)
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    return Response.json(
        status,
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
                f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": str(trace),
            "correlation_id": str(correlation),
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code),
        },
    )
