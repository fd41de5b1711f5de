"""SIGTERM and SIGINT (Ctrl-C, systemd stop, a scheduler's "end task") during `syncd run` and `apply`.

The first signal asks the cycle to stop before its next batch: the batch in flight finishes, its outcomes and
a run summary are written, and the command exits 4 (work left undone). The wait is bounded: if the cycle has
not returned `grace` seconds later (a slow read, a hung peer), or a second signal comes, KeyboardInterrupt is
raised where the main thread is; the cycle still writes its summary, and any batch it was sending keeps its
intent for the next run to settle. Without this, SIGTERM ended the process at once (exit 143): the batch in
flight unaudited and no summary.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger("syncd.stopping")

STOP_GRACE_SECONDS = 30.0
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def stop_on_signals(stop: threading.Event, grace: float = STOP_GRACE_SECONDS) -> Iterator[None]:
    """Route the stop signals to `stop` while the block runs (main thread only: elsewhere Python delivers no
    signals, so nothing is installed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    can_alarm = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")

    def out_of_time(_: int, __: FrameType | None) -> None:
        raise KeyboardInterrupt("stop grace period over")

    def on_signal(signum: int, _: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt(f"signal {signum} again")
        stop.set()
        log.warning(
            "stop requested: finishing the batch in flight, then writing the outcomes and the run summary",
            signal=signal.Signals(signum).name,
            grace_seconds=grace,
        )
        if can_alarm:
            signal.signal(signal.SIGALRM, out_of_time)
            signal.setitimer(signal.ITIMER_REAL, grace)

    previous: dict[int, Any] = {}
    for sig in _SIGNALS:
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except (OSError, ValueError):  # not deliverable on this platform
            continue
    try:
        yield
    finally:
        if can_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
