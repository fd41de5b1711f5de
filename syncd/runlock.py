"""One run at a time per state directory, whatever starts it (Task Scheduler, systemd, the daemon, a human).

The lock is an OS-level file lock (filelock: fcntl on POSIX, msvcrt on Windows). The OS drops it when its
holder dies, even by SIGKILL or a power cut, so a stale lock cannot outlive its process — the PID/age checks
other tools need are unnecessary. A side file names the holder so the refusal can say who it is.

A lock file can be deleted while it is held, and the next run would then lock a new file of the same name
(issue 21). On POSIX the lock is therefore also held on the state directory itself (flock on a directory
descriptor), which cannot be deleted while it holds the state database. On Windows an open file cannot be
deleted, so the lock file alone holds.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import filelock

from syncd.errors import LockHeld, StateError, StorageError

LOCK_FILE = "syncd.lock"
HOLDER_FILE = "syncd.lock.holder"


class RunLock:
    def __init__(self, state_dir: Path, command: str) -> None:
        self.state_dir = state_dir
        self.command = command
        self._lock = filelock.FileLock(str(state_dir / LOCK_FILE), timeout=0)
        self._directory_fd: int | None = None
        self.ran_before = False  # a holder record was here already: some run held this lock before

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
        except OSError as error:
            raise StorageError(
                f"lock file {self.state_dir / LOCK_FILE} cannot be written: {error.strerror}"
            ) from None
        try:
            self._lock_directory()
        except BaseException:
            self._lock.release()
            raise
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.ran_before = (self.state_dir / HOLDER_FILE).exists()
        try:
            (self.state_dir / HOLDER_FILE).write_text(json.dumps(holder), encoding="utf-8")
        except OSError as error:
            self._release()
            raise StorageError(
                f"state directory {self.state_dir} cannot be written: {error.strerror}"
            ) from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._directory_fd is not None:
            os.close(self._directory_fd)  # closing drops the flock
            self._directory_fd = None
        self._lock.release()

    def _lock_directory(self) -> None:
        if sys.platform == "win32":
            return
        import fcntl

        try:
            fd = os.open(self.state_dir, os.O_RDONLY)
        except OSError:
            return  # a directory that cannot be opened for reading: the lock file alone holds
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(
                f"another syncd run holds the lock on {self.state_dir} (its lock file was deleted or "
                f"replaced): {self.holder()}"
            ) from None
        except OSError:
            os.close(fd)
            return  # a file system without flock (some network shares): the lock file alone holds
        self._directory_fd = fd

    def holder(self) -> str:
        try:
            info = json.loads((self.state_dir / HOLDER_FILE).read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} ({info['command']}, since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"
