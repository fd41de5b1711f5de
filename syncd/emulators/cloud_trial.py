"""`python -m syncd.emulators.cloud_trial`: the Entra authority, Microsoft Graph and Azure DevOps emulators on
127.0.0.1 with a small sample directory, for a dry trial of the azure_devops and entra sources. Above the
three emulators (which stand on syncd.emulators.cloud), so no emulator imports it."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from syncd.emulators import standalone
from syncd.emulators.authority import AuthorityEmulator, RegisteredApp
from syncd.emulators.azure_devops import AzureDevOpsEmulator, sample_directory
from syncd.emulators.faults import Faults
from syncd.emulators.graph import GraphEmulator
from syncd.emulators.http_server import EmulatorServer
from syncd.emulators.tls import TestCA


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - interactive
    """Start the authority, Graph and Azure DevOps emulators with a sample directory; print a config."""
    parser = argparse.ArgumentParser(prog="python -m syncd.emulators.cloud_trial", description=main.__doc__)
    parser.add_argument("--dir", type=Path, default=None, help="where to write ca.pem and the secrets")
    parser.add_argument("--fault", action="append", default=[], help="NAME=VALUE, see syncd.emulators.faults")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="syncd-cloud-"))
    folder.mkdir(parents=True, exist_ok=True)
    ca = TestCA()
    ca_file = ca.write_ca(folder / "ca.pem")
    faults = Faults.parse(args.fault)
    tenant, client = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
    secret, pat = "sample-client-secret", "sample-pat"
    authority = AuthorityEmulator({client: RegisteredApp(tenant=tenant, secret=secret)})
    ado_directory, entra_directory = sample_directory(tenant)
    graph = GraphEmulator(entra_directory, token_check=authority.token_check(), faults=faults)
    ado = AzureDevOpsEmulator(ado_directory, pats={pat}, token_check=authority.token_check(), faults=faults)
    servers = []
    for emulator in (authority, graph, ado):
        server = EmulatorServer(emulator.handle, ssl_context=ca.server_context()).start()
        emulator.base_url = server.base_url
        servers.append(server)
    for name, value in (("ado-pat.txt", pat), ("entra-secret.txt", secret)):
        (folder / name).write_text(value)
        (folder / name).chmod(0o600)
    print(
        f"""# emulators running; Ctrl-C stops them
[[sources]]
name = "ado"
type = "azure_devops"
organization = "{ado_directory.organization}"
vssps_url = "{servers[2].base_url}"
pat = {{ file = "{folder / "ado-pat.txt"}" }}
expand_entra_with = "aad"
ca_bundle = "{ca_file}"

[[sources]]
name = "aad"
type = "entra"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = {{ file = "{folder / "entra-secret.txt"}" }}
graph_url = "{servers[1].base_url}"
authority_url = "{servers[0].base_url}"
ca_bundle = "{ca_file}"
# groups: "[{ado_directory.organization}]\\\\Timetracker Users" (ado), "Engineering" (aad)
""",
        flush=True,
    )
    standalone.wait_for_signal()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
