"""Misbehaviour knobs shared by every emulator: how often, and how, a request goes wrong.

`Faults` is a frozen description (settable at start, replaceable at run time); `FaultInjector` turns it into
decisions, one per request, from a seeded RNG so a test sees the same faults on every run. The emulator asks
`before(request)` ahead of its own processing and passes its answer through `after(...)`:

- ERROR        a 5xx (`error_status`) instead of processing the request (nothing happened)
- RESET        the connection is reset before processing (nothing happened)
- RESET_AFTER  the request is processed, then the connection is reset (it happened; the client cannot know)
- MALFORMED    the request is processed, then the JSON answer is cut in half
- HTML         a 200 with an HTML sign-in page (what a proxy or an expired session looks like)
- THROTTLE     a 429 with `Retry-After: retry_after` (someone else used the quota)

Which request gets which fault: a `script` entry for its ordinal (1-based, counting only requests in scope)
wins; then `fail_after` (every request after the N-th in scope gets `outage`: a peer that goes down
mid-run); then the ratios, one RNG draw per request in the order listed above. `latency` is added to every
request in scope. Scope: `methods` (e.g. {"POST"}) and `path_contains`, both optional.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from syncd.emulators.http_server import DropConnection, Request, Response


class Fault(enum.Enum):
    ERROR = "error"
    RESET = "reset"
    RESET_AFTER = "reset_after"
    MALFORMED = "malformed"
    HTML = "html"
    THROTTLE = "throttle"


SIGN_IN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in to your account</title></head>"
    "<body><form method='post' action='/login'><input name='loginfmt'></form></body></html>"
)


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often. The default is a well-behaved peer."""

    seed: int = 0
    error_ratio: float = 0.0
    error_status: int = 503
    reset_ratio: float = 0.0
    reset_after_ratio: float = 0.0
    malformed_ratio: float = 0.0
    html_ratio: float = 0.0
    throttle_ratio: float = 0.0
    retry_after: float = 1.0  # seconds, sent with THROTTLE
    latency: float = 0.0  # seconds added to every request in scope
    fail_after: int | None = None
    outage: Fault = Fault.ERROR
    script: Mapping[int, Fault] = field(default_factory=dict)
    methods: frozenset[str] | None = None
    path_contains: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "error_ratio",
            "reset_ratio",
            "reset_after_ratio",
            "malformed_ratio",
            "html_ratio",
            "throttle_ratio",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"faults: {name} must be between 0 and 1, got {value}")
        if self.latency < 0 or self.retry_after < 0:
            raise ValueError("faults: latency and retry_after must not be negative")

    @classmethod
    def parse(cls, specs: list[str]) -> Faults:
        """Build from 'name=value' strings (the standalone emulators' --fault option), e.g.
        ['error_ratio=0.1', 'seed=7', 'fail_after=20', 'outage=reset', 'methods=POST',
        'script=3:throttle;5:reset']."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for spec in specs:
            name, sep, text = spec.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(f"--fault {spec!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
            try:
                values[name] = _parse_value(name, text.strip())
            except ValueError as error:
                raise ValueError(f"--fault {spec!r}: {error}") from None
        return cls(**values)  # type: ignore[arg-type]  # each value is parsed for its field above


def _parse_value(name: str, text: str) -> object:
    if name in ("seed", "error_status"):
        return int(text)
    if name == "fail_after":
        return None if text.lower() in ("", "none") else int(text)
    if name == "outage":
        return Fault(text.lower())
    if name == "script":
        script: dict[int, Fault] = {}
        for item in filter(None, text.split(";")):
            number, _, kind = item.partition(":")
            script[int(number)] = Fault(kind.strip().lower())
        return script
    if name == "methods":
        return frozenset(m.strip().upper() for m in text.split(",") if m.strip())
    if name == "path_contains":
        return text or None
    return float(text)


class FaultInjector:
    """Decides, per request, which fault (if any) applies; thread-safe and reproducible for a given seed."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._in_scope = 0
        self.injected: dict[Fault, int] = {}

    def _applies_to(self, request: Request) -> bool:
        f = self.faults
        if f.methods is not None and request.method.upper() not in f.methods:
            return False
        return f.path_contains is None or f.path_contains in request.path

    def decide(self, request: Request) -> Fault | None:
        if not self._applies_to(request):
            return None
        f = self.faults
        with self._lock:
            self._in_scope += 1
            number = self._in_scope
            fault = f.script.get(number)
            if fault is None and f.fail_after is not None and number > f.fail_after:
                fault = f.outage
            if fault is None:
                for kind, ratio in (
                    (Fault.ERROR, f.error_ratio),
                    (Fault.RESET, f.reset_ratio),
                    (Fault.RESET_AFTER, f.reset_after_ratio),
                    (Fault.MALFORMED, f.malformed_ratio),
                    (Fault.HTML, f.html_ratio),
                    (Fault.THROTTLE, f.throttle_ratio),
                ):
                    # draw only for configured kinds, so adding one kind does not reshuffle the others
                    if ratio > 0 and self._rng.random() < ratio:
                        fault = kind
                        break
            if fault is not None:
                self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    def delay(self, request: Request) -> None:
        if self.faults.latency > 0 and self._applies_to(request):
            time.sleep(self.faults.latency)

    def before(self, fault: Fault | None) -> Response | None:
        """The answer that replaces processing, or None to go on. RESET raises DropConnection."""
        if fault is Fault.ERROR:
            status = self.faults.error_status
            return Response.json(status, {"error": {"message": f"Injected fault: HTTP {status}"}})
        if fault is Fault.RESET:
            raise DropConnection()
        if fault is Fault.HTML:
            return Response.raw(200, SIGN_IN_PAGE, "text/html; charset=utf-8")
        if fault is Fault.THROTTLE:
            return Response.json(
                429,
                {"error": {"message": "Quota exceeded (injected fault)"}},
                {"Retry-After": _seconds(self.faults.retry_after)},
            )
        return None

    def after(self, fault: Fault | None, response: Response) -> Response:
        """The processed answer, spoilt as the fault says. RESET_AFTER raises DropConnection."""
        if fault is Fault.RESET_AFTER:
            raise DropConnection()
        if fault is Fault.MALFORMED:
            cut = response.body[: max(1, len(response.body) // 2)]
            return Response(response.status, cut, response.headers, response.content_type)
        return response

    def answer(
        self,
        request: Request,
        process: Callable[[], Response],
        log: Callable[[Response | None, Fault | None], None],
    ) -> Response:
        """Answer `request` as the faults decide: `process` runs unless the fault replaces it. `log` is called
        once with the answer sent (None when the connection was reset) and the fault, so that a reset
        request is logged too: this is the one place an emulator's requests meet their faults."""
        fault = self.decide(request)
        self.delay(request)
        response: Response | None = None
        try:
            answered = self.before(fault)
            if answered is None:
                answered = self.after(fault, process())
            response = answered
            return answered
        finally:
            log(response, fault)


def _seconds(value: float) -> str:
    """Retry-After is whole delta-seconds (RFC 9110 10.2.3); never round a wait down to zero."""
    whole = int(value)
    return str(whole if whole == value else whole + 1)
