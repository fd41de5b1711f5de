"""One HTTP client for every REST peer (7pace, Azure DevOps, Microsoft Graph): TLS that honours the
configured CA bundle, proxies, timeouts on every call, a client-side rate limiter, bounded retries with
tenacity that honour Retry-After, and errors translated at the call site into syncd's classes.
Headers are never logged: they carry tokens."""

from __future__ import annotations

import email.utils
import json
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from syncd.config_section import Section
from syncd.errors import RemoteAuthFailed, RemoteProtocolError, RemoteUnreachable
from syncd.system_trust import SYSTEM_TRUST, SystemTrustAdapter

log = structlog.get_logger("syncd.http")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """Per-peer transport settings (`ca_bundle`, `proxy`, `timeout` on every HTTPS source and target)."""

    ca_bundle: Path | None = None
    # ca_bundle = "system": the operating system's trust store (syncd.system_trust)
    system_trust: bool = False
    proxy: str | None = None
    timeout: float = 30.0
    max_attempts: int = 6
    max_retry_seconds: float = 300.0


def read_http_options(section: Section) -> HttpOptions:
    """Read `ca_bundle`, `proxy`, `timeout` from a source or target table."""
    ca_bundle: Path | None = None
    system_trust = False
    if not section.has("ca_bundle"):
        section.path("ca_bundle", kind="file")  # absent: None, but listed among the keys allowed here
    else:
        text = section.str("ca_bundle", expected='a path to a PEM file, or "system"')
        system_trust = text == SYSTEM_TRUST
        if text and not system_trust:
            ca_bundle = section.path("ca_bundle", kind="file")
    proxy = section.url("proxy", None, schemes=("http", "https", "socks5")) or None
    timeout = section.number("timeout", 30.0, minimum=1.0)
    return HttpOptions(ca_bundle=ca_bundle, system_trust=system_trust, proxy=proxy, timeout=timeout)


def quota_windows(per_second: int, per_minute: int) -> tuple[tuple[int, float], ...]:
    """Limiter windows for a documented quota, each a little longer than the server's so that jitter
    between our clock and its arrival times cannot push a request over (5 % of a second, 1 % of a minute).
    A count of 0 leaves its window out."""
    windows = [(per_second, 1.05), (per_minute, 60.6)]
    return tuple((count, seconds) for count, seconds in windows if count > 0)


@dataclass
class RateLimiter:
    """Sliding-window limiter: at most `count` requests in any `seconds` window, for every window given.

    `defer(s)` makes the next request wait `s` seconds (a Retry-After). Thread-safe. The clock and sleep
    are injectable so pure tests need no real time.

    With `adaptive`, a 429 (`throttled`) also teaches the limiter the peer's real quota when it is lower
    than configured: the window the peer most likely enforced (the fullest one) drops to what the peer
    accepted in it (never below half at once), and gains one request back per `recover_after` seconds
    without a 429 — so after the first 429 no further request exceeds the peer's quota (issue 8: back
    off, then recover).
    """

    windows: tuple[tuple[int, float], ...]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    adaptive: bool = False
    recover_after: float = 60.0
    _sent: deque[float] = field(default_factory=deque)
    _not_before: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limits: list[int] | None = None  # lowered counts, one per window, while adapting
    _calm_since: float = 0.0

    @property
    def limits(self) -> tuple[int, ...]:
        """The counts in force now, one per window (lower than configured after a 429, when adaptive)."""
        with self._lock:
            return tuple(self._limits or (count for count, _ in self.windows))

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        waited = 0.0
        horizon = max((seconds for _, seconds in self.windows), default=0.0)
        while True:
            with self._lock:
                now = self.clock()
                while self._sent and now - self._sent[0] >= horizon:
                    self._sent.popleft()
                delay = max(0.0, self._not_before - now)
                if self._limits is not None and now - self._calm_since >= self.recover_after:
                    self._recover(now)
                limits = self._limits or [count for count, _ in self.windows]
                for count, (_, seconds) in zip(limits, self.windows, strict=True):
                    if count <= 0:
                        continue
                    in_window = [t for t in self._sent if now - t < seconds]
                    if len(in_window) >= count:
                        delay = max(delay, in_window[-count] + seconds - now)
                if delay <= 0:
                    self._sent.append(now)
                    return waited
            self.sleep(delay)
            waited += delay

    def defer(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + seconds)

    def throttled(self, retry_after: float | None) -> None:
        """The peer answered 429: wait its Retry-After, and (when adaptive) lower the fullest window."""
        with self._lock:
            now = self.clock()
            if retry_after is not None:
                self._not_before = max(self._not_before, now + retry_after)
            if not self.adaptive:
                return
            if self._sent:
                self._sent.pop()  # the refused request did not count at the peer
            limits = self._limits or [count for count, _ in self.windows]
            fullest: tuple[float, int, int] | None = None
            for index, (limit, (_, seconds)) in enumerate(zip(limits, self.windows, strict=True)):
                if limit <= 0:
                    continue
                accepted = sum(1 for t in self._sent if now - t < seconds)
                if fullest is None or accepted / limit > fullest[0]:
                    fullest = (accepted / limit, index, accepted)
            if fullest is None:
                return
            _, index, accepted = fullest
            limits[index] = max(1, limits[index] // 2, min(limits[index], accepted))
            self._limits = limits
            self._calm_since = now

    def _recover(self, now: float) -> None:
        assert self._limits is not None
        configured = [count for count, _ in self.windows]
        self._limits = [min(c, limit + 1) for c, limit in zip(configured, self._limits, strict=True)]
        self._calm_since = now
        if self._limits == configured:
            self._limits = None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class RequestStats:
    """Counts by kind ("GET users/roles"), and 429s seen: for progress, benchmarks and tests."""

    by_kind: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    retries: int = 0

    def counts(self) -> dict[str, int]:
        """Requests by kind, plus "throttled" and "retries": what a target's `request_counts()` reports."""
        return {**self.by_kind, "throttled": self.throttled, "retries": self.retries}


class HttpClient:
    """A requests Session bound to one peer.

    `describe` names the peer in messages ("7pace Timetracker at https://…"). `auth_header` returns the
    Authorization header value and is called per request (tokens may be refreshed). The error classes let
    a source raise Source* errors and a target Target* errors from the same code.
    """

    def __init__(
        self,
        *,
        describe: str,
        options: HttpOptions,
        auth_header: Callable[[], str] | None,
        limiter: RateLimiter | None,
        session_auth: requests.auth.AuthBase | None = None,
        unreachable: type[RemoteUnreachable],
        auth_failed: type[RemoteAuthFailed],
        protocol_error: type[RemoteProtocolError],
        auth_hint: str = "check the credentials",
        user_agent: str = "syncd",
    ) -> None:
        self.describe = describe
        self.options = options
        self._auth_header = auth_header
        self.limiter = limiter
        self._unreachable = unreachable
        self._auth_failed = auth_failed
        self._protocol_error = protocol_error
        self._auth_hint = auth_hint
        self.stats = RequestStats()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json"
        if session_auth is not None:  # a handshake scheme (NTLM): requests runs it per connection
            self.session.auth = session_auth
        if options.proxy:
            self.session.proxies = {"http": options.proxy, "https": options.proxy}
        if options.system_trust:
            self.session.mount("https://", SystemTrustAdapter())
        # NOTE: requests lets REQUESTS_CA_BUNDLE override Session.verify (psf/requests#3829), so the
        # configured bundle is passed on every request instead, where it wins.
        self._verify: str | bool = str(options.ca_bundle) if options.ca_bundle else True
        self._answered = False  # the peer has answered at least once (a later refusal may be a restart)

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        step: str,
        kind: str,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: frozenset[int] = frozenset({200, 201}),
    ) -> tuple[requests.Response, Any]:
        """Send with retries; return the response and its parsed JSON body.

        Raises the configured unreachable / auth / protocol error with `step` and the peer named.
        Statuses outside `ok_statuses` that are not retryable raise the protocol error (the caller may
        catch statuses it understands by listing them in `ok_statuses`).
        """

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Retryable) and error.retry_after is not None:
                return error.retry_after
            # exponential backoff with a 1 s floor: 1, 2, 4, 8 … capped at 60 s (docs/contract.md §1)
            return float(min(60, 2 ** (state.attempt_number - 1)))

        started = time.monotonic()
        attempts = [0]

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            error = state.outcome.exception() if state.outcome else None
            log.info("retrying", peer=self.describe, step=step, attempt=state.attempt_number, why=str(error))

        retrying = Retrying(
            stop=stop_after_attempt(self.options.max_attempts)
            | stop_after_delay(self.options.max_retry_seconds),
            wait=wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts[0] += 1
                    return self._once(method, url, step, kind, params, json_body, headers, ok_statuses)
        except _Retryable as error:
            # what happened, not the budget: "after 6 attempts over 31 s", not "within 6 attempts / 300s"
            raise self._unreachable(
                f"{step}: {self.describe} did not answer usefully after {attempts[0]} attempt(s) over "
                f"{time.monotonic() - started:.0f} s: {error}"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises

    def _once(
        self,
        method: str,
        url: str,
        step: str,
        kind: str,
        params: Mapping[str, str | int] | None,
        json_body: object,
        headers: Mapping[str, str] | None,
        ok_statuses: frozenset[int],
    ) -> tuple[requests.Response, Any]:
        if self.limiter is not None:
            self.limiter.acquire()
        all_headers = dict(headers or {})
        if self._auth_header is not None:
            all_headers["Authorization"] = self._auth_header()
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=all_headers,
                timeout=self.options.timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as error:
            reason = tls_reason(error)
            if _plain_http_answer(reason):
                raise self._unreachable(
                    f"{step}: {self.describe} answered plain HTTP, not TLS, on an https:// URL ({reason}); "
                    "check the URL's port (the server's HTTPS port) or whether the server has TLS enabled"
                ) from None
            raise self._unreachable(
                f"{step}: TLS verification of {self.describe} failed ({reason}); "
                "set ca_bundle to the PEM file of the CA that signed its certificate"
            ) from None
        except requests.exceptions.ProxyError as error:
            raise _Retryable(f"proxy error: {_short(error)}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            cause = connection_cause(error)
            if cause is not None and (cause[0] == "name not known" or not self._answered):
                # nothing to wait for: a DNS name that does not resolve, or a port nobody listens on
                # before the peer ever answered (a typo, a stopped service), fails in seconds
                raise self._unreachable(f"{cause[0]}: {step}: {self.describe}: {cause[1]}") from None
            raise _Retryable(f"{type(error).__name__}: {_short(error)}") from None
        except requests.exceptions.RequestException as error:
            raise self._unreachable(f"{step}: {self.describe}: {_short(error)}") from None
        self._answered = True

        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        status = response.status_code
        if status in RETRYABLE_STATUS:
            if status == 429:
                self.stats.throttled += 1
                if self.limiter is not None:
                    self.limiter.throttled(retry_after)
            elif self.limiter is not None and retry_after is not None:
                self.limiter.defer(retry_after)
            if retry_after is not None and retry_after > self.options.max_retry_seconds:
                raise self._unreachable(
                    f"{step}: {self.describe} asks to wait {retry_after:.0f}s (HTTP {status}), "
                    f"longer than this run may wait ({self.options.max_retry_seconds:.0f}s)"
                )
            raise _Retryable(f"HTTP {status}", retry_after)
        if retry_after is not None and self.limiter is not None:
            # Azure DevOps sends Retry-After on a 200 when it starts delaying: wait before the *next* call
            self.limiter.defer(retry_after)
        if status in (401, 403):
            raise self._auth_failed(
                f"{step}: {self.describe} refused the credentials (HTTP {status}"
                f"{_error_text(response)}); {self._auth_hint}"
            )
        content_type = response.headers.get("Content-Type", "")
        if 200 <= status < 300 and "html" in content_type:
            # Azure DevOps answers an expired or wrong PAT with 203 + a sign-in page (docs/contract.md
            # §2); checked before `ok_statuses`, which never lists 203
            raise self._auth_failed(
                f"{step}: {self.describe} answered with an HTML page instead of JSON (HTTP {status}), "
                f"which is what a sign-in redirect looks like; {self._auth_hint}"
            )
        if status not in ok_statuses:
            raise self._protocol_error(
                f"{step}: {self.describe} answered HTTP {status}{_error_text(response)}"
            )
        if status == 204 or not response.content:
            return response, None
        if "json" not in content_type:
            raise _Retryable(f"unexpected Content-Type {content_type!r}")
        try:
            return response, response.json()
        except (json.JSONDecodeError, ValueError):
            raise _Retryable("malformed JSON in the response body") from None


def _plain_http_answer(reason: str) -> bool:
    """OpenSSL's words when the bytes that came back are not a TLS record (an HTTP reply, typically)."""
    text = reason.casefold()
    return any(
        words in text for words in ("wrong version number", "wrong_version_number", "record layer failure")
    )


def connection_cause(error: BaseException) -> tuple[str, str] | None:
    """("connection refused" | "name not known", what to check) when a connection failed for a reason that
    retrying will not cure; None for everything else (timeouts, resets: worth retrying)."""
    for current in _causes(error):
        if isinstance(current, socket.gaierror):
            return (
                "name not known",
                "the host name in the URL does not resolve (DNS); check its spelling, the DNS server, or "
                "set proxy if this network reaches the service only through one",
            )
        if isinstance(current, ConnectionRefusedError):
            return (
                "connection refused",
                "nothing listens on that host and port; check the URL's port, that the service runs, and "
                "any firewall in between",
            )
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and everything requests and urllib3 wrapped inside it (args, reason, cause, context),
    breadth first, each once."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += [item for item in linked if isinstance(item, BaseException)]


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "…"


def tls_reason(error: Exception) -> str:
    """OpenSSL's reason for a failed handshake ("certificate verify failed: unable to get local issuer
    certificate", "… Hostname mismatch …"), dug out of requests' and urllib3's wrappers, whose own text
    (pool, URL, retries) would otherwise fill the 200 characters `_short` keeps and cut the reason off."""
    for current in _causes(error):
        if isinstance(current, ssl.SSLCertVerificationError) and current.verify_message:
            return f"certificate verify failed: {current.verify_message}"
        if isinstance(current, ssl.SSLError):
            return _short(current)
    return _short(error)  # pragma: no cover - requests' SSLError always wraps an ssl.SSLError


def _error_text(response: requests.Response) -> str:
    """A short, safe description of an error body: 7pace {"error":{"message"}}, ADO {"message"}, Graph."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("errorDescription") or "")
        elif isinstance(error, str):
            message = str(body.get("error_description") or error)
        elif "message" in body:
            message = str(body["message"])
    message = " ".join(message.split())[:300]
    return f": {message}" if message else ""
