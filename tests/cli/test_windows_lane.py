"""The Windows lane: syncd's commands in a Python that reports `sys.platform == "win32"` from its first import
(tests/cli/as_windows.py), with a pseudo-terminal as stderr like an administrator's console, or with pipes
like Task Scheduler. Catches the class of failure where a library takes its Windows branch only on Windows
(structlog's ConsoleRenderer raised SystemError for want of colorama: `syncd check --offline` in install.ps1
failed before the task was registered)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AS_WINDOWS = Path(__file__).with_name("as_windows.py")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def _read_all(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def as_windows(args: list[str], *, console: bool, colorama: bool = True, cwd: Path | None = None) -> Ran:
    """Run `python -m syncd ARGS` as on Windows. console=True: stderr is a terminal (an admin's PowerShell);
    False: stdout and stderr are pipes (Task Scheduler, which discards them)."""
    command = [sys.executable, str(AS_WINDOWS), *([] if colorama else ["--no-colorama"]), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "NO_COLOR", "FORCE_COLOR"))}
    if not console:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
        return Ran(done.returncode, done.stdout, done.stderr)
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=secondary, env=env, cwd=cwd)
        os.close(secondary)
        stderr = _read_all(primary)
        stdout = process.stdout.read().decode("utf-8", "replace") if process.stdout else ""
        code = process.wait(timeout=120)
    finally:
        os.close(primary)
    return Ran(code, stdout, stderr)


def test_the_lane_really_runs_as_windows(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, structlog.dev, keyring.core\n"
        "print(sys.platform, structlog.dev._IS_WINDOWS, sys.modules.get('colorama'))\n"
    )
    command = [sys.executable, str(AS_WINDOWS), "--no-colorama", "--probe", str(probe)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["win32", "True", "None"], done.stderr


@pytest.mark.parametrize("colorama", [True, False], ids=["with-colorama", "without-colorama"])
def test_check_offline_on_an_admin_console_as_install_ps1_runs_it(world: Any, colorama: bool) -> None:
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    ran = as_windows(["check", "--offline", "-c", str(config)], console=True, colorama=colorama)
    assert ran.code == 0, ran.stderr
    assert "configuration is valid" in ran.stdout
    assert "SystemError" not in ran.stderr and "Traceback" not in ran.stderr


@pytest.mark.parametrize("colorama", [True, False], ids=["with-colorama", "without-colorama"])
def test_interactive_commands_on_a_console_with_diagnostics(world: Any, colorama: bool) -> None:
    """-v makes the console renderer write (info and warnings): with colour only when it can be shown."""
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    for command in (["plan"], ["status"]):
        ran = as_windows([*command, "-v", "-c", str(config)], console=True, colorama=colorama)
        assert ran.code == 0, ran.stderr
        assert "Traceback" not in ran.stderr
    ran = as_windows(["plan", "-vv", "-c", str(config)], console=True, colorama=colorama)
    assert ("\x1b[" in ran.stderr) is colorama, ran.stderr[:500]


def test_config_error_on_a_console_is_one_line(tmp_path: Path) -> None:
    ran = as_windows(
        ["check", "--offline", "-c", str(tmp_path / "missing.toml")], console=True, colorama=False
    )
    assert ran.code == 2
    assert "config file not found" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_scheduled_task_run_writes_json_diagnostics(world: Any) -> None:
    """As the task runs it: pipes, --log-format json (the task XML's Arguments), a dated JSON log file."""
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    ran = as_windows(
        ["run", "-c", str(config), "--max-runtime", "40m", "--log-format", "json"], console=False
    )
    assert ran.code == 0, ran.stderr
    logs = sorted((world.root / "logs").glob("syncd-*.log"))
    assert logs, "no dated diagnostic log"
    lines = [line for log in logs for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines and all(json.loads(line) for line in lines)
    assert all("\x1b[" not in line for line in lines)


def test_a_secret_file_readable_by_users_is_refused_naming_icacls(world: Any) -> None:
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    (world.root / "token.txt").chmod(0o644)  # the lane reads this as an ACL that lets BUILTIN\Users read
    ran = as_windows(["check", "--offline", "-c", str(config)], console=True)
    assert ran.code == 2, ran.stderr
    assert "token.txt is readable by Users; restrict it: icacls" in ran.stderr
    assert "chmod" not in ran.stderr


@pytest.mark.parametrize("colorama", [True, False], ids=["with-colorama", "without-colorama"])
def test_unattended_commands_by_hand_on_a_console(world: Any, colorama: bool) -> None:
    """An administrator runs the task's command by hand, then looks at the audit trail."""
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    ran = as_windows(
        ["run", "-v", "-c", str(config), "--max-runtime", "40m"], console=True, colorama=colorama
    )
    assert ran.code == 0, ran.stderr
    assert "Traceback" not in ran.stderr
    ran = as_windows(
        ["audit", "-c", str(config), "--user", "u0001@example.com"], console=True, colorama=colorama
    )
    assert ran.code == 0, ran.stderr
    assert "u0001@example.com" in ran.stdout


def test_secret_set_as_on_windows_names_a_missing_icacls(world: Any) -> None:
    """`syncd secret set` takes its Windows branch in the lane, where icacls.exe does not exist: it must say
    which program could not start (exit 2) and leave no file, not blame the file it was writing."""
    config = world.write_config()
    done = subprocess.run(
        [sys.executable, str(AS_WINDOWS), "secret", "set", "timetracker-token", "-c", str(config)],
        input="s3cret-sentinel\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "icacls.exe" in done.stderr and "nothing written" in done.stderr
    assert "s3cret-sentinel" not in done.stdout + done.stderr
    assert not (world.root / "secrets" / "timetracker-token.txt").exists()


def test_a_keyring_reference_without_a_usable_backend_is_one_line(world: Any) -> None:
    """As on a Windows server where the task account has no usable Credential Manager (a gMSA has none):
    the lookup fails as one exit-2 line naming the key. (keyring's WinVault backend checks
    platform.system(), which the lane cannot switch: this shows the failure path, not WinVault itself.)"""
    config = world.write_config()
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    text = config.read_text(encoding="utf-8").replace(
        'token = { file = "token.txt" }', 'token = { keyring = "syncd/tt" }'
    )
    config.write_text(text, encoding="utf-8")
    ran = as_windows(["plan", "-c", str(config)], console=True)
    assert ran.code == 2, ran.stderr
    (line,) = ran.stderr.splitlines()
    assert line.startswith(f"syncd: error: {config}: target.token: keyring lookup of 'syncd/tt' failed")
