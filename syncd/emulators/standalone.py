"""Running an emulator as a foreground process (`python -m syncd.emulators.<name>`): serve until SIGTERM or
Ctrl-C, then stop cleanly. Shared so each emulator's `main` only builds its emulator and says where it is."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT arrives (the handlers are installed here, in the main thread)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        pass
