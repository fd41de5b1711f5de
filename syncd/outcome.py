"""How an unattended run ended, on disk. Task Scheduler discards stdout and stderr, so whatever ends `run`,
`apply` or `daemon` with a non-zero exit code (a config error, a held lock, an unreachable source or target,
an internal error with its traceback) is also written at error level to the dated diagnostic log (falling
back to a `logs` folder beside the config file when the configured folder cannot be used), and, when the
configuration was read and the cycle did not already record the run, as one `run-summary` line in the audit
log. This is what an administrator reads after a non-zero "Last Run Result"."""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncd.audit import AuditLog
from syncd.config import Config
from syncd.diagnostics import DatedLogFile
from syncd.errors import SyncdError

UNATTENDED = frozenset({"run", "apply", "daemon"})


@dataclass(frozen=True, slots=True)
class Ending:
    """One way a command ended. `error` is None when the command returned its exit code itself."""

    command: str
    exit_code: int
    lines: tuple[str, ...]
    error: BaseException | None = None
    dry_run: bool = False

    @property
    def first_line(self) -> str:
        return self.lines[0] if self.lines else ""


def beside_config(config_path: Path) -> Path:
    """The fallback folder for diagnostics: `logs` beside the config file (C:\\ProgramData\\syncd\\logs)."""
    return config_path.absolute().parent / "logs"


def _diagnostic_line(ending: Ending, now: datetime) -> str:
    event: dict[str, object] = {
        "event": f"{ending.command} ended with exit {ending.exit_code}: {ending.first_line}",
        "level": "error",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "logger": "syncd.cli",
        "command": ending.command,
        "exit_code": ending.exit_code,
        "problems": list(ending.lines),
    }
    if ending.error is not None:
        event["error_type"] = type(ending.error).__name__
        if ending.exit_code == 1:  # an internal error: the traceback is what a bug report needs
            event["exception"] = "".join(traceback.format_exception(ending.error))
    return json.dumps(event, ensure_ascii=False) + "\n"


def record(ending: Ending, config: Config | None, config_path: Path) -> Path | None:
    """Write `ending` to disk where it can; returns the diagnostic log folder written to (None: none could).
    Never raises: the exit code is the outcome, and a full disk must not turn it into a traceback."""
    now = datetime.now(UTC)
    fallback = beside_config(config_path)
    log_file = DatedLogFile(config.audit_dir if config is not None else fallback, fallback)
    try:
        log_file.write(_diagnostic_line(ending, now))
    except OSError:
        pass
    finally:
        log_file.close()
    audited = ending.error is None or getattr(ending.error, "audited", False)
    if config is not None and not audited:
        _audit(ending, config)
    return log_file.used


def _audit(ending: Ending, config: Config) -> None:
    audit = None
    try:
        audit = AuditLog(
            config.audit_dir, run_id=uuid.uuid4().hex[:16], dry_run=ending.dry_run, target=config.target.type
        )
        audit.summary(
            f"{ending.command} stopped before the cycle recorded it: {ending.first_line}",
            {
                "event.outcome": "failure",
                "process.exit.code": ending.exit_code,
                "error.message": "; ".join(ending.lines),
                "error.type": type(ending.error).__name__,
            },
        )
    except (OSError, SyncdError):  # SyncdError: the audit log's own StorageError (a full or read-only folder)
        pass  # the diagnostic log already has it; the audit folder is what failed
    finally:
        if audit is not None:
            audit.close()


def lines_of(messages: Sequence[str]) -> tuple[str, ...]:
    return tuple(line for message in messages for line in message.splitlines() if line)
