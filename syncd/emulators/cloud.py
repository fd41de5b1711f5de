"""What the Microsoft cloud emulators (Azure DevOps, Microsoft Graph, the Entra authority) share: a
request log for tests to count calls, the shared fault knobs (syncd.emulators.faults), and one-shot scripted
answers for the cases a ratio cannot express ("the next subject lookup gets a 429 without Retry-After").

Each emulator is a handler for `EmulatorServer`; `CloudEmulator.handle` wraps its `route` as:
log → fault decision and latency → scripted answer or fault answer → route → spoilt by the fault.

`python -m syncd.emulators.cloud_trial` starts all three on 127.0.0.1 with a small sample directory for a
dry trial of the azure_devops and entra sources (a module of its own: this base is below the emulators).
"""

from __future__ import annotations

import base64
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from syncd.emulators.faults import FaultInjector, Faults
from syncd.emulators.http_server import LoggedRequest, Request, Response


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
                time.monotonic(),
                request.method,
                request.path,
                "",
                status,
                query={k: list(v) for k, v in request.query.items()},
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
