"""Every outcome of an unattended command on disk (Task Scheduler discards stdout and stderr): a config error,
a held lock, an unreachable target, an internal error with its traceback — at error level in the dated
diagnostic log (or a `logs` folder beside the config), and one run record in the audit log where it can."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncd import outcome
from syncd.cli import main
from syncd.cycle import Cycle
from syncd.diagnostics import DatedLogFile
from syncd.runlock import RunLock


def records(folder: Path, pattern: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob(pattern))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def errors_in(folder: Path) -> list[dict[str, Any]]:
    return [r for r in records(folder, "syncd-*.log") if r.get("level") == "error"]


def summaries(folder: Path) -> list[dict[str, Any]]:
    return [r for r in records(folder, "audit-*.jsonl") if r.get("event.action") == "run-summary"]


def test_a_config_error_is_in_a_logs_folder_beside_the_config(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text("[target]\nurl = 42\n", encoding="utf-8")
    assert main(["run", "-c", str(config), "--log-format", "json"]) == 2
    (error,) = errors_in(tmp_path / "logs")
    assert error["exit_code"] == 2 and error["command"] == "run" and error["error_type"] == "ConfigError"
    assert any("url" in line for line in error["problems"])


def test_a_missing_config_is_recorded_beside_where_it_was_looked_for(tmp_path: Path) -> None:
    assert main(["run", "-c", str(tmp_path / "nowhere.toml")]) == 2
    (error,) = errors_in(tmp_path / "logs")
    assert "config file not found" in error["event"]


def test_interactive_commands_leave_no_files(tmp_path: Path) -> None:
    assert main(["check", "--offline", "-c", str(tmp_path / "nowhere.toml")]) == 2
    assert not (tmp_path / "logs").exists()


def test_a_held_lock_is_in_the_diagnostic_and_the_audit_log(world: Any) -> None:
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    config = world.write_config(extra='\n[audit]\ndir = "audit"\n\n[state]\ndir = "state"\n')
    with RunLock(world.root / "state", "test"):
        assert main(["run", "-c", str(config)]) == 6
    (error,) = errors_in(world.root / "audit")
    assert error["exit_code"] == 6 and "holds the lock" in error["event"]
    (summary,) = summaries(world.root / "audit")
    assert summary["process.exit.code"] == 6 and summary["event.outcome"] == "failure"
    assert "holds the lock" in summary["error.message"]


def test_a_refused_target_is_recorded_once_in_the_audit_log(world: Any) -> None:
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    config = world.write_config()
    (world.root / "token.txt").write_text("sentinel-wrong-token", encoding="utf-8")
    assert main(["run", "-c", str(config)]) == 5
    (error,) = errors_in(world.root / "logs")
    assert error["exit_code"] == 5
    (summary,) = summaries(world.root / "logs")  # the cycle's own record, not a second one from the CLI
    assert summary["process.exit.code"] == 5
    logs = list((world.root / "logs").glob("syncd-*.log"))
    assert logs and all("sentinel-wrong-token" not in log.read_text(encoding="utf-8") for log in logs)


def test_an_internal_error_leaves_its_traceback_at_error_level(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.members({"Users": ["u0001@example.com"], "Admins": []})
    config = world.write_config()

    def broken(self: Cycle, request: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Cycle, "run", broken)
    assert main(["run", "-c", str(config), "-q"]) == 1
    (error,) = errors_in(world.root / "logs")
    assert error["error_type"] == "ZeroDivisionError"
    assert "Traceback" in error["exception"] and "in broken" in error["exception"]
    (summary,) = summaries(world.root / "logs")
    assert summary["process.exit.code"] == 1 and summary["error.type"] == "ZeroDivisionError"


def test_a_run_that_returns_a_failure_code_is_in_the_diagnostic_log(world: Any) -> None:
    world.members({"Users": [f"u{n:04d}@example.com" for n in range(10)], "Admins": []})
    config = str(world.write_config(policy='grace = "0s"\nmax_removals = 2\nmax_group_shrink_percent = 100'))
    assert main(["run", "-c", config]) == 0
    world.members({"Users": [f"u{n:04d}@example.com" for n in range(5)], "Admins": []})
    assert main(["run", "-c", config]) == 3  # 5 removals > max_removals = 2: a guard stop, returned
    assert [e["exit_code"] for e in errors_in(world.root / "logs")] == [3]


def test_the_log_file_falls_back_when_its_folder_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    log_file = DatedLogFile(blocker / "logs", fallback=tmp_path / "fallback")
    log_file.write('{"event": "x"}\n')
    log_file.close()
    assert log_file.used == tmp_path / "fallback"
    assert len(list((tmp_path / "fallback").glob("syncd-*.log"))) == 1
    nowhere = DatedLogFile(blocker / "a", fallback=blocker / "b")
    assert nowhere.write("dropped\n") == len("dropped\n")  # the console still has it; no exception
    assert nowhere.used is None


def test_record_never_raises_when_nothing_can_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    ending = outcome.Ending("run", 2, ("bad",), ValueError("bad"))
    assert outcome.record(ending, None, blocker / "syncd.toml") is None


def test_a_logging_set_up_that_fails_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """configure() runs inside the CLI's error handling; the report of its failure goes nowhere near stdout
    (structlog's defaults would print a debug traceback there)."""
    import syncd.cli

    def broken(*args: object, **kwargs: object) -> None:
        raise SystemError(
            "ConsoleRenderer with `colors=True` on Windows requires the colorama package installed."
        )

    monkeypatch.setattr(syncd.cli, "configure", broken)
    assert main(["run", "-c", str(tmp_path / "syncd.toml")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "syncd: internal error: SystemError: ConsoleRenderer with `colors=True` on Windows requires the colorama "
        "package installed. (a bug; rerun with -vv for details)"
    ]
    (error,) = errors_in(tmp_path / "logs")  # and on disk, with its traceback, for the scheduled task
    assert error["error_type"] == "SystemError" and "Traceback" in error["exception"]


def test_the_console_renderer_falls_back_to_plain_when_structlog_refuses_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import structlog

    from syncd import diagnostics

    real = structlog.dev.ConsoleRenderer

    def refusing(*, colors: bool) -> structlog.dev.ConsoleRenderer:
        if colors:
            raise SystemError("ConsoleRenderer with `colors=True` on Windows requires the colorama package")
        return real(colors=False)

    monkeypatch.setattr(structlog.dev, "ConsoleRenderer", refusing)
    renderer = diagnostics._console_renderer(True)
    assert isinstance(renderer, real)
    assert "\x1b[" not in renderer(None, "warning", {"event": "plain", "level": "warning"})


def test_an_audit_log_that_refuses_the_record_does_not_hide_the_exit_code(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full or read-only audit folder (the audit log's StorageError) while recording a held lock: the exit
    code stays 6 and the diagnostic log still has the line."""
    from syncd.audit import AuditLog
    from syncd.errors import StorageError

    world.members({"Users": ["u0001@example.com"], "Admins": []})
    config = world.write_config(extra='\n[audit]\ndir = "audit"\n\n[state]\ndir = "state"\n')

    def full(self: AuditLog, message: str, fields: object) -> None:
        raise StorageError("audit log cannot be written: No space left on device")

    monkeypatch.setattr(AuditLog, "summary", full)
    with RunLock(world.root / "state", "test"):
        assert main(["run", "-c", str(config)]) == 6
    assert [e["exit_code"] for e in errors_in(world.root / "audit")] == [6]
