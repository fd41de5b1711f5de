"""What the Microsoft cloud emulators (Azure DevOps, Microsoft Graph, the Entra authority) share: a
request log for tests to count calls, the shared fault knobs (syncd.emulators.faults), and one-shot scripted
answers for the cases a ratio cannot express ("the next subject lookup gets a 429 without Retry-After").

Each emulator is a handler for `EmulatorServer`; `CloudEmulator.handle` wraps its `route` as:
log → fault decision and latency → scripted answer or fault answer → route → spoilt by the fault.

`python -m syncd.emulators.cloud` starts all three on 127.0.0.1 with a small sample directory for a dry
trial of the azure_devops and entra sources (see `main`).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from syncd.emulators.faults import FaultInjector, Faults
from syncd.emulators.http_server import Request, Response


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class _Scripted:
    method: str
    path_contains: str
    response: Response
    remaining: int


class CloudEmulator:
    """Base of the three emulators: subclasses implement `route(request) -> Response`."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.injector = FaultInjector(faults or Faults())
        self.log: list[LoggedRequest] = []
        self._scripted: list[_Scripted] = []
        self._lock = threading.Lock()
        self.base_url = ""  # set by whoever starts the server: nextLinks and discovery documents need it

    # -- knobs ------------------------------------------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        self.injector = FaultInjector(faults)

    def script(self, method: str, path_contains: str, response: Response, times: int = 1) -> None:
        """Answer the next `times` requests matching method and path fragment with `response`."""
        with self._lock:
            self._scripted.append(_Scripted(method.upper(), path_contains, response, times))

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        """Requests received (after scripted answers and faults), filtered by method and path fragment."""
        with self._lock:
            return sum(
                1
                for entry in self.log
                if (method is None or entry.method == method.upper())
                and path_contains.lower() in entry.path.lower()
            )

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        injector = self.injector
        fault = injector.decide(request)
        injector.delay(request)
        status = 0  # 0 = the connection was reset
        try:
            response = self._scripted_answer(request) or injector.before(fault)
            if response is None:
                response = injector.after(fault, self.route(request))
            status = response.status
            return response
        finally:
            entry = LoggedRequest(
                request.method, request.path, {k: list(v) for k, v in request.query.items()}, status
            )
            with self._lock:
                self.log.append(entry)

    def _scripted_answer(self, request: Request) -> Response | None:
        with self._lock:
            for entry in self._scripted:
                if (
                    entry.method == request.method.upper()
                    and entry.path_contains.lower() in request.path.lower()
                ):
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        self._scripted.remove(entry)
                    return entry.response
        return None

    def route(self, request: Request) -> Response:
        raise NotImplementedError


def bearer_token(request: Request) -> str | None:
    header = request.header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def basic_password(request: Request) -> str | None:
    header = request.header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


TokenCheck = Callable[[str], bool]


def breadth_first(start: str, children: Callable[[str], list[str]]) -> list[str]:
    """Every node below `start`, once each, in breadth-first order; cycles end (a directory's nesting)."""
    seen = {start}
    order: list[str] = []
    queue = collections.deque(children(start))
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        order.append(current)
        queue.extend(children(current))
    return order


# -- standalone dry trial ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:  # pragma: no cover - interactive
    """Start the authority, Graph and Azure DevOps emulators with a sample directory; print a config."""
    from syncd.emulators.authority import AuthorityEmulator, RegisteredApp
    from syncd.emulators.azure_devops import AzureDevOpsEmulator, sample_directory
    from syncd.emulators.graph import GraphEmulator
    from syncd.emulators.http_server import EmulatorServer
    from syncd.emulators.tls import TestCA

    parser = argparse.ArgumentParser(prog="python -m syncd.emulators.cloud", description=main.__doc__)
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
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
