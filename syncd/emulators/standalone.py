"""Running an emulator as a foreground process (`python -m syncd.emulators.<name>`): the options every one
takes, serve until SIGTERM or Ctrl-C, then stop cleanly. Shared so each emulator's `main` only builds its
emulator and says where it is."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TypeVar

from syncd.emulators.faults import Faults
from syncd.emulators.served import Served

U = TypeVar("U")


def argument_parser(prog: str, description: str, *, users: str) -> argparse.ArgumentParser:
    """A parser with the options every standalone emulator takes: --port, --users (`users` says the file's
    form) and --fault; the emulator adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--users", type=Path, help=users)
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME=VALUE", help="e.g. error_ratio=0.1"
    )
    return parser


def users_and_faults(
    args: argparse.Namespace, load_users: Callable[[Path], list[U]]
) -> tuple[list[U], Faults] | None:
    """The --users file read and the --fault options parsed; None (the error printed) when either is wrong."""
    try:
        users = load_users(args.users) if args.users else []
        faults = Faults.parse(args.fault)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    return users, faults


def serve_until_signal(emulator: Served, ready: Callable[[], str]) -> int:
    """Start `emulator`, print `ready()` (it may name the URL, known once started), serve until SIGTERM or
    Ctrl-C, stop, and say how many requests it answered; returns the exit status (0)."""
    stop = _stop_signal()  # before the ready line: see _stop_signal
    with emulator:
        print(ready(), flush=True)
        wait_for_signal(stop)
    print(f"stopped after {len(emulator.requests)} requests", flush=True)
    return 0


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGTERM or SIGINT arrives (`stop` from `_stop_signal()`, or installed now)."""
    stop = stop if stop is not None else _stop_signal()
    while not stop.wait(0.5):
        pass


def _stop_signal() -> threading.Event:
    """An event that SIGTERM or SIGINT sets (the handlers are installed here, in the main thread). Installed
    before the emulator says where it listens: a signal sent as soon as that line is read is then not lost
    to the default handler, which would end the process without its closing line."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
