"""Fixtures for the Azure DevOps / Entra ID tests: the three HTTPS emulators on 127.0.0.1 behind a throw-away
CA, and helpers that parse a `[[sources]]` table the way config.py does and open the source."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.config_section import Section
from syncd.emulators.authority import AuthorityEmulator, RegisteredApp
from syncd.emulators.azure_devops import AdoDirectory, AzureDevOpsEmulator
from syncd.emulators.graph import EntraDirectory, GraphEmulator
from syncd.emulators.http_server import EmulatorServer
from syncd.emulators.tls import TestCA
from syncd.errors import ConfigError
from syncd.sources import source_type
from syncd.sources.interface import Source

TENANT = "45aa3d2d-7442-473d-b4d3-3c670da9dd96"
CLIENT_ID = "0c1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
CLIENT_SECRET = "s3cr3t-Value~ForTheTestsOnly.1234"
PAT = "pat-52-characters-of-token-material-for-the-tests-xx"
EXPIRED_PAT = "expired-pat-which-azure-devops-no-longer-accepts-xyz"


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    return TestCA()


@dataclass
class Cloud:
    """The running emulators and everything a test needs to point sources at them."""

    folder: Path
    ca_file: Path
    authority: AuthorityEmulator
    graph: GraphEmulator
    ado: AzureDevOpsEmulator
    ado_dir: AdoDirectory
    entra_dir: EntraDirectory
    servers: list[EmulatorServer]
    opened: list[Source] = field(default_factory=list)
    tenant: str = TENANT
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    pat: str = PAT
    expired_pat: str = EXPIRED_PAT

    def secret_file(self, name: str, value: str) -> dict[str, str]:
        path = self.folder / name
        path.write_text(value)
        path.chmod(0o600)
        return {"file": str(path)}

    def ado_table(self, **overrides: Any) -> dict[str, Any]:
        table: dict[str, Any] = {
            "organization": self.ado_dir.organization,
            "vssps_url": self.ado.base_url,
            "pat": self.secret_file("pat.txt", PAT),
            "ca_bundle": str(self.ca_file),
        }
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    def entra_table(self, **overrides: Any) -> dict[str, Any]:
        table: dict[str, Any] = {
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": self.secret_file("entra-secret.txt", CLIENT_SECRET),
            "graph_url": self.graph.base_url,
            "authority_url": self.authority.base_url,
            "ca_bundle": str(self.ca_file),
        }
        table.update(overrides)
        return {k: v for k, v in table.items() if v is not None}

    def parse(self, kind: str, table: dict[str, Any], name: str = "src") -> Any:
        problems: list[str] = []
        settings = source_type(kind).parse(
            Section(table, "sources[0]", self.folder / "syncd.toml", problems), name
        )
        if problems:
            raise ConfigError(problems)
        return settings

    def open(
        self,
        kind: str,
        table: dict[str, Any],
        *,
        name: str = "src",
        others: dict[str, Source] | None = None,
        attempts: int | None = None,
    ) -> Any:
        settings = self.parse(kind, table, name)
        if attempts is not None:  # fewer retries keep failure tests fast (1 s backoff floor in syncd.http)
            settings = dataclasses.replace(
                settings, http=dataclasses.replace(settings.http, max_attempts=attempts)
            )
        known = dict(others or {})
        source = source_type(kind).open(settings, lambda n: known[n])
        self.opened.append(source)
        return source


@pytest.fixture
def cloud(tmp_path: Path, test_ca: TestCA) -> Iterator[Cloud]:
    authority = AuthorityEmulator({CLIENT_ID: RegisteredApp(tenant=TENANT, secret=CLIENT_SECRET)})
    entra_dir = EntraDirectory()
    ado_dir = AdoDirectory(organization="contoso", tenant=TENANT)
    graph = GraphEmulator(entra_dir, token_check=authority.token_check())
    ado = AzureDevOpsEmulator(
        ado_dir,
        pats={PAT},
        expired_pats={EXPIRED_PAT},
        token_check=authority.token_check("499b84ac-1321-427f-aa17-267ca6975798"),
    )
    servers = []
    for emulator in (authority, graph, ado):
        server = EmulatorServer(emulator.handle, ssl_context=test_ca.server_context()).start()
        emulator.base_url = server.base_url
        servers.append(server)
    state = Cloud(
        folder=tmp_path,
        ca_file=test_ca.write_ca(tmp_path / "ca.pem"),
        authority=authority,
        graph=graph,
        ado=ado,
        ado_dir=ado_dir,
        entra_dir=entra_dir,
        servers=servers,
    )
    try:
        yield state
    finally:
        for source in state.opened:
            source.close()
        for server in servers:
            server.stop()
