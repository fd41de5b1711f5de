"""A small threaded HTTP(S) server on 127.0.0.1 that every emulator (7pace, Azure DevOps, Entra) builds on.

An emulator is a function `Request -> Response`; this module owns sockets, threads, TLS, keep-alive and the
ways a real peer misbehaves at the transport level (an abrupt reset, a truncated body). No Flask: the
standard library's `ThreadingHTTPServer` is enough and keeps the emulators shippable inside the package.

Use:
    def handle(request: Request) -> Response:
        return Response.json(200, {"data": []})

    with EmulatorServer(handle, ssl_context=ctx) as server:   # port 0 = any free port
        requests.get(server.base_url + "/x")

A handler raises `DropConnection` to close the TCP connection with a reset instead of answering
(optionally after writing some bytes first, to model a response cut off mid-body).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"


class LoggedRequest(NamedTuple):
    """One request as an emulator saw it, for tests to count and inspect. `kind` names the endpoint ("GET
    users/roles", "POST users/invite"; "?" when unrouted; empty where an emulator does not name kinds);
    `status` is 0 when the connection was reset; `entries` is rows returned (GET) or entries posted (POST)
    where the emulator counts them; `fault` the injected fault's name; `query` the decoded query string."""

    at: float
    method: str
    path: str
    kind: str
    status: int
    entries: int = 0
    fault: str = ""
    query: Mapping[str, list[str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. `query` keeps every value of a repeated parameter; `param` gives the first.
    `headers` is case-insensitive (it is the `email.message.Message` the standard library parsed)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client: tuple[str, int]
    raw_query: str = ""  # as sent, before percent-decoding (a dialect may treat `%24count` ≠ `$count`)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else str(value)

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, body, tuple((headers or {}).items()))

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes | str,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        data = body.encode("utf-8") if isinstance(body, str) else body
        return cls(status, data, tuple((headers or {}).items()), content_type)


class DropConnection(Exception):
    """Raised by a handler: write `partial` (if any) and then reset the connection (TCP RST)."""

    def __init__(self, partial: bytes = b"") -> None:
        super().__init__("drop connection")
        self.partial = partial


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.app = handler
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            # Handshake lazily, in the connection thread: a slow client cannot stall accept().
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client-side resets and TLS failures are normal in fault tests; keep stderr quiet.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a paging client reuses one connection
    # TCP_NODELAY: headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (~40 ms on Linux), which made every emulated request take 40+ ms
    disable_nagle_algorithm = True
    server: _Server
    timeout = 60  # an idle keep-alive connection is closed after this

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base-class signature
        pass

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,  # type: ignore[arg-type]  # Message is a case-insensitive mapping
            body=body,
            client=self.client_address,
            raw_query=parts.query,
        )
        try:
            response = self.server.app(request)
        except DropConnection as drop:
            self._reset(drop.partial)
            return
        except Exception as error:  # noqa: BLE001 - an emulator bug must be visible to the client, not hang it
            response = Response.json(500, {"error": {"message": f"emulator error: {error!r}"}})
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self, partial: bytes) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            if partial:
                self.wfile.write(partial)
            # SO_LINGER 0 makes close() send RST rather than FIN: the client sees "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815


@dataclass
class EmulatorServer:
    """A running (after `start()`) HTTP(S) server bound to 127.0.0.1 that calls `handler` per request."""

    handler: Handler
    port: int = 0
    ssl_context: ssl.SSLContext | None = None
    host: str = LOOPBACK
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self.handler, self.ssl_context)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every open keep-alive connection, release the port. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def base_url(self) -> str:
        """'http://127.0.0.1:PORT' (no trailing slash)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
