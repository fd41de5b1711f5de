"""The hardening suites' world: the 7pace emulator behind a fault proxy, a file export, a config, the cloud
emulators, and the invariants every suite checks (no harm, audit coverage, convergence).

Test modules `from tests.hardening import harness as hh`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from syncd.emulators.authority import AuthorityEmulator, RegisteredApp
from syncd.emulators.azure_devops import AdoDirectory, AzureDevOpsEmulator
from syncd.emulators.graph import EntraDirectory, GraphEmulator
from syncd.emulators.http_server import DropConnection, EmulatorServer, Request, Response
from syncd.emulators.timetracker import EmulatedUser
from syncd.emulators.tls import TestCA
from syncd.identity import normalise_email
from tests.support.world import World, running_emulator
from tests.support.world import read_audit as read_audit  # the suites read audit folders as hh.read_audit

NONE = "None"
RANK = {"None": 0, "Team": 1, "Product": 2, "Budget": 3, "Administrator": 4}
TOKEN = "sentinel-7pace-token-hardening"
CHANGE_ACTIONS = ("seat-assign", "role-change", "seat-unassign")

Roles = dict[str, str]  # normalised e-mail → role ("None" = no seat)


def key(email: str) -> str:
    found = normalise_email(email)
    assert found is not None, email
    return found


def users(prefix: str, numbers: Iterable[int]) -> list[str]:
    return [f"{prefix}{n:04d}@example.com" for n in numbers]


# -- a proxy in front of an emulator ---------------------------------------------------------------------


@dataclass
class Hold:
    """Stop the `ordinal`-th request of `kind` at the proxy until `release(action)`: "forward" (the
    emulator gets it after all), "drop" (it never arrives), or "answer-lost" (the emulator processes it, the
    answer is dropped). `arrived` is set while the request waits (or, for answer-lost, once processed)."""

    kind: str
    ordinal: int
    action: str = "drop"
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self, action: str | None = None) -> None:
        if action is not None:
            self.action = action
        self.released.set()

    def stops(self, kind: str, number: int) -> bool:
        """Whether the `number`-th request of `kind` is the one to hold."""
        return self.kind == kind and self.ordinal == number

    def before_forwarding(self) -> None:
        """Hold the request until released; then "drop" loses it (the peer never sees it)."""
        if self.action != "answer-lost":
            self.arrived.set()
            self.released.wait(60)
            if self.action == "drop":
                raise DropConnection()

    def after_forwarding(self) -> None:
        """For "answer-lost": the peer has processed the request; hold, then lose its answer."""
        if self.action == "answer-lost":
            self.arrived.set()
            self.released.wait(60)
            raise DropConnection()


Hook = Callable[[str, int, Request], Response | None]
Reshape = Callable[[str, int, Response], Response]


class FaultProxy:
    """A forwarding HTTP server on 127.0.0.1 in front of the 7pace emulator, for what the emulator's own
    `Faults` cannot express: answers reshaped (well-formed JSON of the wrong shape), Retry-After removed from
    429s, a token revoked at the N-th write, a request held at a chosen point while the client is killed.
    Requests are counted per kind ("GET users/roles", "POST users/roles"), 1-based, in arrival order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.strip_retry_after = False
        self.before: Hook | None = None
        self.reshape: Reshape | None = None
        self.hold: Hold | None = None
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._in_flight = 0
        self._local = threading.local()
        self._server = EmulatorServer(self._handle)

    def start(self) -> FaultProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.release()
        self._server.stop()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def reset(self) -> None:
        """Back to a transparent proxy with fresh counters."""
        if self.hold is not None:
            self.hold.release()
        self.wait_idle()
        with self._lock:
            self._counts.clear()
        self.strip_retry_after = False
        self.before = None
        self.reshape = None
        self.hold = None

    def count(self, kind: str) -> int:
        with self._lock:
            return self._counts.get(kind, 0)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no request is being forwarded (a client that gave up leaves its request running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    return
            time.sleep(0.01)
        raise AssertionError("the proxy still forwards requests after 30 s")

    @staticmethod
    def kind_of(request: Request) -> str:
        path = request.path.lower().rstrip("/")
        endpoint = path.split("/rest/", 1)[1] if "/rest/" in path else path
        return f"{request.method} {endpoint}"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _handle(self, request: Request) -> Response:
        kind = self.kind_of(request)
        with self._lock:
            self._counts[kind] = number = self._counts.get(kind, 0) + 1
            self._in_flight += 1
        try:
            if self.before is not None:
                early = self.before(kind, number, request)
                if early is not None:
                    return early
            hold = self.hold  # read once: the test thread may replace it meanwhile
            if hold is not None and not hold.stops(kind, number):
                hold = None
            if hold is not None:
                hold.before_forwarding()
            response = self._forward(request)
            if hold is not None:
                hold.after_forwarding()
            if self.reshape is not None:
                response = self.reshape(kind, number, response)
            return response
        finally:
            with self._lock:
                self._in_flight -= 1

    def _forward(self, request: Request) -> Response:
        params = [(name, value) for name, values in request.query.items() for value in values]
        headers = {
            name: str(request.header(name))
            for name in ("Authorization", "Content-Type", "Accept")
            if request.header(name)
        }
        try:
            answer = self._session().request(
                request.method,
                self.upstream + quote(request.path),
                params=params,
                data=request.body or None,
                headers=headers,
                timeout=60,
            )
        except requests.exceptions.ConnectionError:
            raise DropConnection() from None  # the emulator reset the connection: so does the proxy
        passed = []
        for name in ("Retry-After", "WWW-Authenticate"):
            value = answer.headers.get(name)
            if value is not None and not (name == "Retry-After" and self.strip_retry_after):
                passed.append((name, value))
        content_type = answer.headers.get("Content-Type", "application/json; charset=utf-8")
        return Response(answer.status_code, answer.content, tuple(passed), content_type)


# -- the world --------------------------------------------------------------------------------------------


@dataclass
class ProxiedWorld(World):
    """tests/support's World with the 7pace emulator behind a FaultProxy. Roles are compared by normalised
    e-mail, with "None" for everyone without a seat."""

    proxy: FaultProxy = field(kw_only=True)
    token: str = TOKEN

    default_policy: ClassVar[str] = 'grace = "0s"\nmax_removal_percent = 100\nmax_removals = 100000'

    @property
    def url(self) -> str:
        return self.proxy.base_url

    def roles(self) -> Roles:
        self.proxy.wait_idle()
        return {key(e): r for e, r in self.emulator.roles_by_email(include_none=True).items()}


@contextlib.contextmanager
def running_world(root: Path, people: Iterable[EmulatedUser]) -> Iterator[ProxiedWorld]:
    with running_emulator(root, people, TOKEN) as emulator:
        proxy = FaultProxy(emulator.base_url).start()
        try:
            yield ProxiedWorld(root, emulator, proxy=proxy)
        finally:
            proxy.stop()


# -- invariants ---------------------------------------------------------------------------------------------


def with_changes(roles: Mapping[str, str], changes: Mapping[str, str]) -> Roles:
    return {**roles, **{key(e): r for e, r in changes.items()}}


def unintended(before: Mapping[str, str], after: Mapping[str, str], desired: Mapping[str, str]) -> list[str]:
    """People whose role moved to something that is neither what they had nor what they should have."""
    found = []
    for person in sorted(set(before) | set(after)):
        was, now = before.get(person, NONE), after.get(person, NONE)
        if now not in (was, desired.get(person, NONE)):
            found.append(f"{person}: {was} → {now} (desired {desired.get(person, NONE)})")
    return found


def downgrades(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Unassignments and downgrades (rank down), whether intended or not."""
    return [
        f"{p}: {before.get(p, NONE)} → {after.get(p, NONE)}"
        for p in sorted(set(before) | set(after))
        if RANK.get(after.get(p, NONE), 9) < RANK.get(before.get(p, NONE), 9)
    ]


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    return {p for p in set(before) | set(after) if before.get(p, NONE) != after.get(p, NONE)}


def covered(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """Who the audit events account for: a success change event, or a batch intent naming them."""
    found: set[str] = set()
    for event in events:
        action = event.get("event.action")
        if action in CHANGE_ACTIONS and event.get("event.outcome") == "success":
            found.add(key(event["user.target.email"]))
        elif action == "batch-intent":
            found.update(key(e) for e in event["syncd.batch.emails"])
    return found


def successes(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """person → the role a success change event says they now hold (the last such event wins)."""
    return {
        key(e["user.target.email"]): e["user.changes.roles"][0]
        for e in events
        if e.get("event.action") in CHANGE_ACTIONS and e.get("event.outcome") == "success"
    }


def false_successes(after: Mapping[str, str], events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Success events the emulator contradicts: the audit says X now holds R, the emulator shows otherwise."""
    return [
        f"{p}: audited {role}, emulator shows {after.get(p, NONE)}"
        for p, role in sorted(successes(events).items())
        if after.get(p, NONE).casefold() != role.casefold()
    ]


# -- the Microsoft cloud emulators ---------------------------------------------------------------------------

TENANT = "45aa3d2d-7442-473d-b4d3-3c670da9dd96"
CLIENT_ID = "0c1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"


@dataclass
class Cloud:
    ca_file: Path
    authority: AuthorityEmulator
    graph: GraphEmulator
    ado: AzureDevOpsEmulator
    ado_dir: AdoDirectory
    entra_dir: EntraDirectory


@contextlib.contextmanager
def running_cloud(folder: Path, ca: TestCA, *, pat: str, client_secret: str) -> Iterator[Cloud]:
    """Authority, Graph and Azure DevOps emulators over HTTPS (certificates from `ca`), accepting `pat` and
    the app CLIENT_ID with `client_secret`."""
    authority = AuthorityEmulator({CLIENT_ID: RegisteredApp(tenant=TENANT, secret=client_secret)})
    entra_dir = EntraDirectory()
    ado_dir = AdoDirectory(organization="contoso", tenant=TENANT)
    graph = GraphEmulator(entra_dir, token_check=authority.token_check())
    ado = AzureDevOpsEmulator(
        ado_dir, pats={pat}, token_check=authority.token_check("499b84ac-1321-427f-aa17-267ca6975798")
    )
    servers = []
    try:
        for emulator in (authority, graph, ado):
            server = EmulatorServer(emulator.handle, ssl_context=ca.server_context()).start()
            emulator.base_url = server.base_url
            servers.append(server)
        yield Cloud(ca.write_ca(folder / "ca.pem"), authority, graph, ado, ado_dir, entra_dir)
    finally:
        for server in servers:
            server.stop()


# -- one fault-matrix cell's verdict (shared by the target matrices) -----------------------------------------


CELL_COLUMNS = [
    "fault",
    "when",
    "command",
    "exit (expected)",
    "changed",
    "harm",
    "audit gaps",
    "recovery",
    "verdict",
]
COMMANDS = ("plan", "apply", "run")  # each fault is tried under each of these


@dataclass(frozen=True)
class CellResult:
    """What one faulted command did and how the clean recovery went, for a fault-matrix row."""

    fault: str
    where: str
    command: str
    code: int
    expected: int
    moved: int
    harm: list[str]
    gaps: list[str]
    recovered: int
    replan: int
    wrong: list[str]

    def problems(self) -> list[str]:
        found = [] if self.code == self.expected else [f"exit {self.code}, expected {self.expected}"]
        found += self.harm + self.gaps
        if self.recovered != 0 or self.replan != 0 or self.wrong:
            found.append(
                f"recovery run {self.recovered}, re-plan {self.replan}, {len(self.wrong)} wrong: {self.wrong[:5]}"
            )
        return found

    def cells(self) -> list[object]:
        problems = self.problems()
        return [
            self.fault,
            self.where,
            self.command,
            f"{self.code} ({self.expected})",
            self.moved,
            len(self.harm),
            len(self.gaps),
            f"run {self.recovered}, re-plan {'empty' if self.replan == 0 else self.replan}, "
            f"{'converged' if not self.wrong else 'NOT converged'}",
            "ok" if not problems else "FAIL: " + "; ".join(problems)[:300],
        ]


# -- a real `syncd run`, killed ------------------------------------------------------------------------------


def start_run(config: Path) -> subprocess.Popen[bytes]:
    """`python -m syncd run -c config` in a process of its own, so a signal can stop it anywhere."""
    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def kill_when_held(process: subprocess.Popen[bytes], hold: Hold | None, where: str, draw: float) -> None:
    """SIGKILL `process` once its request reached `hold` (with no hold: after a pause the seeded `draw`
    sets), then reap it and let the held request go, whatever happened on the way."""
    try:
        if hold is None:
            time.sleep(0.05 + 0.25 * draw)
        else:
            assert hold.arrived.wait(60), f"the run never reached {where}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if hold is not None:
            hold.release()
