"""`ca_bundle = "system"`: verify TLS with the operating system's trust store instead of certifi's bundle.

On Windows that is the certificate store, where enterprise CAs (and a TLS-inspecting proxy's CA) are deployed
by Group Policy; on macOS the Keychain; on Linux OpenSSL's default locations (`SSL_CERT_FILE`,
`/etc/ssl/certs`). The `truststore` package does the platform work. It is applied per session through a
transport adapter, never with `truststore.inject_into_ssl()`, which would change every TLS connection in the
process (global state).
"""

from __future__ import annotations

import ssl
from typing import Any

import requests.adapters
import truststore

SYSTEM_TRUST = "system"


def system_context() -> ssl.SSLContext:
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class SystemTrustAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with truststore's SSLContext for direct connections and through a proxy. requests
    then adds no CA file of its own (verify=True with a pool manager's ssl_context)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["ssl_context"] = system_context()
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = system_context()
        return super().proxy_manager_for(proxy, **proxy_kwargs)
