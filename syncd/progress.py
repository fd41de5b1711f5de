"""Progress for long reads and applies: a self-rewriting line on a terminal, otherwise a structured
`progress` diagnostic at most every 10 seconds. Never in the audit log (it is not an event)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import structlog

log = structlog.get_logger("syncd.progress")

LOG_INTERVAL = 10.0
TTY_INTERVAL = 0.25


class Progress:
    def __init__(
        self,
        what: str,
        unit: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.unit = unit
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._shown = False

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if now - self._last >= (TTY_INTERVAL if self._tty else LOG_INTERVAL):
            self._last = now
            self._show(now)

    def _figures(self, now: float) -> tuple[float, float | None]:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if self.total and rate > 0 else None
        return rate, eta

    def _show(self, now: float) -> None:
        rate, eta = self._figures(now)
        if self._tty:
            of = f"/{self.total}" if self.total else ""
            left = f", about {eta:.0f}s left" if eta is not None else ""
            self._stream.write(f"\r{self.what}: {self.done}{of} {self.unit} ({rate:.1f}/s{left})   ")
            self._stream.flush()
            self._shown = True
        else:
            log.info(
                "progress",
                what=self.what,
                done=self.done,
                total=self.total,
                unit=self.unit,
                per_second=round(rate, 1),
                eta_seconds=round(eta) if eta is not None else None,
            )

    def finish(self) -> None:
        if self._tty and self._shown:
            self._stream.write("\r" + " " * 78 + "\r")
            self._stream.flush()
