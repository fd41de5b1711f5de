"""Diagnostic logging (for humans and ops, level-filtered) on stderr: a console renderer on a terminal, JSON
otherwise (the journal, Task Scheduler redirection, log shippers). The audit trail is separate (audit.py).

Headers, tokens and passwords are never passed to a logger anywhere in syncd; as a second line of defence,
a processor masks values under keys that name secrets.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, cast

import structlog
from structlog.typing import EventDict, WrappedLogger

LEVELS = ("debug", "info", "warning", "error")
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|pat|authorization|credential)s?$", re.IGNORECASE)


def _mask_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = "***"
    return event


def can_show_colours(tty: bool, platform: str = sys.platform) -> bool:
    """Colour codes only on a terminal, and on Windows only when colorama is installed to translate them:
    structlog's ConsoleRenderer raises SystemError for `colors=True` on Windows without it (structlog/dev.py,
    `_init_terminal`), which crashed the installer's first `syncd check` on an administrator's console."""
    if not tty:
        return False
    if platform == "win32":
        return importlib.util.find_spec("colorama") is not None
    return True


class DatedLogFile:
    """Append-only `syncd-YYYY-MM-DD.log` files (UTC) in a folder, reopened when the day turns. No rename
    rotation: it fails on Windows while a reader holds the file, so old files are pruned by age instead.

    When the folder cannot be used (not creatable, no write right for the task account), the `fallback`
    folder is used instead (a `logs` folder beside the config file): Task Scheduler discards stderr, so a
    diagnostic that reaches no file is lost. When neither can be written, the file side is dropped and the
    console still gets everything."""

    def __init__(self, directory: Path, fallback: Path | None = None) -> None:
        self.directory = directory
        self.fallback = fallback
        self.used: Path | None = None  # the folder written to, once a line was written
        self._day: date | None = None
        self._handle: TextIO | None = None
        self._unusable = False

    def _open(self, day: date) -> TextIO | None:
        for folder in (self.directory, self.fallback):
            if folder is None:
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
                handle = (folder / f"syncd-{day.isoformat()}.log").open("a", encoding="utf-8")
            except OSError:
                continue
            self.used = folder
            return handle
        return None

    def write(self, text: str) -> int:
        today = datetime.now(UTC).date()
        if self._unusable and today == self._day:
            return len(text)
        if self._handle is None or today != self._day:
            if self._handle is not None:
                self._handle.close()
            self._day = today
            self._handle = self._open(today)
            self._unusable = self._handle is None
            if self._handle is None:
                return len(text)
        written = self._handle.write(text)
        self._handle.flush()
        return written

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def prune_log_files(directory: Path, retention_days: int, today: date) -> None:
    cutoff = today - timedelta(days=retention_days)
    for path in directory.glob("syncd-*.log"):
        try:
            if date.fromisoformat(path.stem.removeprefix("syncd-")) < cutoff:
                path.unlink(missing_ok=True)
        except ValueError:
            continue


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing, not when logging was configured (tests and
    embedding applications swap it; a stale reference would write to a closed stream)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _Tee:
    """stderr for the operator, plus the dated file for later readers (there is no journal on Windows)."""

    def __init__(self, console: TextIO, file: DatedLogFile) -> None:
        self.console = console
        self.file = file

    def write(self, text: str) -> int:
        self.console.write(text)
        self.file.write(text)
        return len(text)

    def flush(self) -> None:
        self.console.flush()
        self.file.flush()


def add_log_file(
    log_format: str | None,
    verbosity: int,
    directory: Path,
    *,
    interactive: bool = False,
    fallback: Path | None = None,
) -> None:
    """Also write diagnostics to dated files in `directory` (run, apply, daemon), in the console's format
    (JSON unless on a terminal), without colour codes; in `fallback` when `directory` cannot be used."""
    configure(log_format, verbosity, interactive=interactive, log_file=DatedLogFile(directory, fallback))


def _console_renderer(colours: bool) -> structlog.dev.ConsoleRenderer:
    try:
        return structlog.dev.ConsoleRenderer(colors=colours)
    except SystemError:  # structlog's refusal of colours on Windows: plain text is still a console
        return structlog.dev.ConsoleRenderer(colors=False)


def configure_fallback() -> None:
    """Plain JSON warnings on stderr, for when `configure` itself failed: whatever is logged while reporting
    that failure must not fall back to structlog's defaults (debug and tracebacks on stdout)."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )


def configure(
    log_format: str | None,
    verbosity: int,
    stream: TextIO | None = None,
    *,
    interactive: bool = False,
    log_file: DatedLogFile | None = None,
) -> None:
    """`verbosity`: 0 = default, +1 per -v, -1 per -q. The default is warnings for interactive commands
    (plan, check, status, demo: their output is the point) and on a terminal, info for unattended ones."""
    if stream is None:
        stream = cast(TextIO, _CurrentStderr())
    tty = stream.isatty()
    fmt = log_format or ("console" if tty else "json")
    base = logging.WARNING if tty or interactive else logging.INFO
    level = max(logging.DEBUG, min(logging.ERROR, base - 10 * verbosity))
    renderer: Any = (
        _console_renderer(can_show_colours(tty) and log_file is None)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    target = cast(TextIO, _Tee(stream, log_file)) if log_file else stream
    stamped: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *stamped,
            _mask_secrets,
            structlog.processors.dict_tracebacks if fmt == "json" else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=target),
        # not cached: tests call main() repeatedly with different streams and levels
        cache_logger_on_first_use=False,
    )
    # ldap3, msal and urllib3 log through the standard library. Their debug output can carry request
    # details we do not control, so they stay at WARNING whatever -v says (secret hygiene beats detail).
    # They are rendered like syncd's own events (one JSON object per line when not on a terminal, and into
    # the dated log file too), so a urllib3 warning never breaks a JSON diagnostics stream.
    handler = logging.StreamHandler(target)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *stamped],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _mask_secrets, renderer],
        )
    )
    logging.basicConfig(handlers=[handler], level=logging.WARNING, force=True)
