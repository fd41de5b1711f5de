"""An emulator that owns its HTTP(S) server: start/stop, use as a context manager, and its base URL.

A subclass sets `self._server = EmulatorServer(self.handle, …)` in its `__init__`."""

from __future__ import annotations

from typing import Self

from syncd.emulators.http_server import EmulatorServer


class Served:
    _server: EmulatorServer

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """'http://127.0.0.1:PORT' (no trailing slash)."""
        return self._server.base_url
