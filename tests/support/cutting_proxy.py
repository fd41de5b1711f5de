"""A TCP proxy that lets a peer (a Samba DC) die part-way through a conversation, and the `cutting_proxy`
fixture that closes every proxy a test made; tests/ldap and tests/hardening both use it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.support.factories import closing_factory


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to `upstream`. Once `cut_after` bytes have come back from upstream it
    stops forwarding, calls `on_cut` (e.g. kill the DC), and closes every socket and the listener, so the
    client sees its DC vanish in the middle of an answer and cannot reconnect through the proxy."""

    def __init__(self, upstream: tuple[str, int], cut_after: int, on_cut: Callable[[], None]) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.on_cut = on_cut
        self.forwarded = 0
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target, counted in ((client, server, False), (server, client, True)):
                thread = threading.Thread(target=self._pump, args=(source, target, counted), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        source.settimeout(0.2)
        while not self.cut.is_set():
            try:
                data = source.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if counted:
                with self._lock:
                    self.forwarded += len(data)
                    reached = self.forwarded >= self.cut_after
                if reached:
                    self._cut()
                    return
            try:
                target.sendall(data)
            except OSError:
                break
        if not self.cut.is_set():
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _cut(self) -> None:
        if self.cut.is_set():
            return
        self.cut.set()
        self.on_cut()
        self.close()

    def close(self) -> None:
        self.cut.set()
        # close() alone does not stop a listener while the accept thread sits in accept(): the kernel keeps
        # the socket listening until that call returns (up to its 0.2 s timeout), so a client reconnecting
        # in that window was accepted and then reset instead of refused. shutdown() stops it at once.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def join(self) -> None:
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    def done(proxy: CuttingProxy) -> None:
        proxy.close()
        proxy.join()

    yield from closing_factory(CuttingProxy, done)
