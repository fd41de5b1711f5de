"""`sys.platform == "win32"` branches not covered in their own areas' tests (the others: colours in
tests/core/test_diagnostics.py, secret files and the Kerberos package in tests/core/test_secrets.py,
`syncd secret set` in tests/cli/test_secret_set.py; all of them also run in tests/cli/test_windows_lane.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import runlock
from syncd.errors import LockHeld
from syncd.runlock import RunLock


def test_on_windows_the_run_lock_is_the_lock_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flock on the state folder (fcntl does not exist on Windows); the lock file still excludes a second
    run."""
    monkeypatch.setattr(runlock.sys, "platform", "win32")
    with RunLock(tmp_path, "run") as held:
        assert held._directory_fd is None
        with pytest.raises(LockHeld), RunLock(tmp_path, "apply"):
            pass
    monkeypatch.setattr(runlock.sys, "platform", "linux")
    with RunLock(tmp_path, "run") as held:
        assert held._directory_fd is not None  # the POSIX branch does hold the folder
