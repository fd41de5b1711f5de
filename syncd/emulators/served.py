"""An emulator that owns its HTTP(S) server: start/stop, use as a context manager, its base URL, and the log
of the requests it saw (for tests to count and inspect).

A subclass calls `super().__init__()`, sets `self._server = EmulatorServer(self.handle, …)` in its
`__init__`, and calls `self._logged(…)` once per request it answers."""

from __future__ import annotations

import threading
from typing import Self

from syncd.emulators.http_server import EmulatorServer, LoggedRequest


class Served:
    _server: EmulatorServer

    def __init__(self) -> None:
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()

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

    # -- request log ------------------------------------------------------------------------------------
    def _logged(self, entry: LoggedRequest) -> None:
        with self._log_lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    def count(self, kind: str | None = None, *, status: int | None = None) -> int:
        """Requests logged of `kind` ("GET users/roles", "POST users/invite", …), and/or `status`."""
        return sum(
            1
            for r in self.requests
            if (kind is None or r.kind == kind) and (status is None or r.status == status)
        )

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()
