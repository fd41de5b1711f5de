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
if probe is not None:
    runpy.run_path(probe, run_name="__main__")
else:
    runpy.run_module("syncd", run_name="__main__", alter_sys=True)
