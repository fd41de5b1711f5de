"""`syncd secret set NAME`: write a secret file the way `{ file = … }` reads it — UTF-8 without BOM, no
newline, readable only by its owner (POSIX mode 0600) or, on Windows, by SYSTEM, Administrators and the task
account (icacls) — and give back the reference to put in the config. Windows PowerShell 5.1's own ways to
write a file (`>` is UTF-16, `Set-Content -Encoding UTF8` adds a BOM, both inherit whatever the folder
allows) are exactly what an administrator should not have to get right by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from syncd import windows_acl
from syncd.errors import UsageError

SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
Runner = Callable[[Sequence[str]], int]


def _run(arguments: Sequence[str]) -> int:
    return subprocess.run(list(arguments), capture_output=True, check=False).returncode


def icacls_arguments(path: Path, account: str | None) -> list[str]:
    """icacls for a new secret file. With the task account: exactly SYSTEM, Administrators (full) and that
    account (read), by SID where Windows has one, so it works in any system language. Without it: inherit from
    the folder (install.ps1 restricts `secrets` the same way)."""
    if account is None:
        return ["icacls.exe", str(path), "/reset", "/Q"]
    return [
        "icacls.exe",
        str(path),
        "/inheritance:r",
        "/grant:r",
        f"*{windows_acl.SYSTEM}:F",
        f"*{windows_acl.ADMINISTRATORS}:F",
        f"{account}:R",
        "/Q",
    ]


def reference(path: Path) -> str:
    """The config value: a TOML literal string keeps Windows backslashes as they are."""
    text = str(path)
    quoted = f"'{text}'" if "'" not in text and "\n" not in text else json.dumps(text)
    return f"{{ file = {quoted} }}"


def write_secret(
    directory: Path,
    name: str,
    value: str,
    *,
    account: str | None = None,
    platform: str = sys.platform,
    run: Runner = _run,
) -> Path:
    """Write `directory/NAME.txt` atomically (a reader never sees half a secret) and restrict it first."""
    if not SECRET_NAME.match(name):
        raise UsageError(
            f"secret name {name!r}: use letters, digits, '_', '.', '-' (up to 100), e.g. timetracker-token"
        )
    value = value.strip()
    if not value:
        raise UsageError(f"secret {name}: the value is empty; nothing written")
    if "\n" in value or "\r" in value:
        raise UsageError(f"secret {name}: the value has a line break; a secret is one line")
    path = directory / f"{name}.txt"
    staging = directory / f".{name}.txt.new"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging.unlink(missing_ok=True)
        handle = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            os.write(handle, value.encode("utf-8"))
            os.fsync(handle)
        finally:
            os.close(handle)
        if platform == "win32":
            arguments = icacls_arguments(staging, account)
            try:
                code = run(arguments)
            except OSError as error:  # not the file's fault: say which program could not start
                staging.unlink(missing_ok=True)
                raise UsageError(
                    f"secret {name}: {arguments[0]} cannot be started ({error.strerror}); nothing written"
                ) from None
            if code != 0:
                staging.unlink(missing_ok=True)
                raise UsageError(
                    f"secret {name}: {' '.join(arguments)} failed (exit {code}); nothing written. Run it "
                    "elevated, as install.ps1 does"
                )
        staging.replace(path)
    except OSError as error:
        staging.unlink(missing_ok=True)
        raise UsageError(f"secret {name}: cannot write {path}: {error.strerror}") from None
    return path
