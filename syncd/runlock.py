"""One run at a time per state directory, whatever starts it (Task Scheduler, systemd, the daemon, a human).

The lock is an OS-level file lock (filelock: fcntl on POSIX, msvcrt on Windows). The OS drops it when its
holder dies, even by SIGKILL or a power cut, so a stale lock cannot outlive its process — the PID/age checks
other tools need are unnecessary. A side file names the holder so the refusal can say who it is.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import filelock

from syncd.errors import LockHeld, StateError

LOCK_FILE = "syncd.lock"
HOLDER_FILE = "syncd.lock.holder"


class RunLock:
    def __init__(self, state_dir: Path, command: str) -> None:
        self.state_dir = state_dir
        self.command = command
        self._lock = filelock.FileLock(str(state_dir / LOCK_FILE), timeout=0)

    def __enter__(self) -> RunLock:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StateError(
                f"state directory {self.state_dir} cannot be created: {error.strerror}"
            ) from None
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise LockHeld(f"another syncd run holds the lock on {self.state_dir}: {self.holder()}") from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (self.state_dir / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._lock.release()

    def holder(self) -> str:
        try:
            info = json.loads((self.state_dir / HOLDER_FILE).read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} ({info['command']}, since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"
