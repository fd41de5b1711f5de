"""Run `python -m syncd ARGS` in a Python that reports `sys.platform == "win32"` (the Windows lane).

Started as `python as_windows.py [--no-colorama] [--probe FILE] ARGS…` by tests/cli/test_windows_lane.py
(`--probe FILE` runs that script instead of syncd, to show what the lane's Python sees). The platform is switched before
structlog, colorama, keyring, truststore or syncd are imported, so every import-time Windows branch in them
(structlog's `_IS_WINDOWS`, keyring's backend choice, truststore's Windows store) is taken as on Windows.

What cannot be switched: modules that call the operating system itself through Windows-only C modules
(asyncio's `_overlapped`, filelock's `msvcrt`, subprocess's `_winapi`) are imported first, under the real
platform; `os.name` and therefore `pathlib`/`os.path` stay POSIX (a real Windows path needs a real Windows
filesystem). Those parts are verified only on a Windows host (deploy/windows-task/README.md says which).
"""

from __future__ import annotations

import runpy
import sys

_ALREADY = sorted(m for m in ("structlog", "colorama", "keyring", "truststore", "syncd") if m in sys.modules)
if _ALREADY:  # a .pth file or sitecustomize imported them: the lane would test nothing
    raise SystemExit(f"as_windows: imported before the switch: {', '.join(_ALREADY)}")

# OS bindings, imported under the real platform (their Windows branches need Windows DLLs)
import asyncio  # noqa: E402, F401
import subprocess  # noqa: E402, F401

import filelock  # noqa: E402, F401

arguments = sys.argv[1:]
if arguments[:1] == ["--no-colorama"]:
    # a Windows Python without colorama: `import colorama` raises ImportError, as when it is not installed
    sys.modules["colorama"] = None  # type: ignore[assignment]
    arguments = arguments[1:]

probe = None
if arguments[:1] == ["--probe"]:
    probe, arguments = arguments[1], arguments[2:]

sys.platform = "win32"
sys.argv = ["syncd", *arguments]
# The one Windows call syncd makes itself (a secret file's ACL, syncd/windows_acl.py) needs advapi32: answer
# it from the POSIX mode bits instead, as install.ps1's icacls would have set them (owner-only: SYSTEM,
# Administrators and the task account). Its decision logic is unit-tested from real SDDL strings.
import os  # noqa: E402
import stat  # noqa: E402

from syncd import windows_acl  # noqa: E402

_ME = "S-1-5-21-1004336348-1177238915-682003330-1001"


def _sddl_from_mode(path: str) -> str:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    others = "(A;;FR;;;BU)" if mode & 0o077 else ""
    return f"O:{_ME}G:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;{_ME}){others}"


windows_acl.read_sddl = _sddl_from_mode
windows_acl.current_user_sid = lambda: _ME

if probe is not None:
    runpy.run_path(probe, run_name="__main__")
else:
    runpy.run_module("syncd", run_name="__main__", alter_sys=True)
