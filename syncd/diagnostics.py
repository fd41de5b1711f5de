"""Diagnostic logging (for humans and ops, level-filtered) on stderr: a console renderer on a terminal, JSON
otherwise (the journal, Task Scheduler redirection, log shippers). The audit trail is separate (audit.py).

Headers, tokens and passwords are never passed to a logger anywhere in syncd; as a second line of defence,
a processor masks values under keys that name secrets.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

LEVELS = ("debug", "info", "warning", "error")
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|pat|authorization|credential)s?$", re.IGNORECASE)


def _mask_secrets(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = "***"
    return event


def configure(
    log_format: str | None, verbosity: int, stream: TextIO | None = None, *, interactive: bool = False
) -> None:
    """`verbosity`: 0 = default, +1 per -v, -1 per -q. The default is warnings for interactive commands
    (plan, check, status, demo: their output is the point) and on a terminal, info for unattended ones."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    fmt = log_format or ("console" if tty else "json")
    base = logging.WARNING if tty or interactive else logging.INFO
    level = max(logging.DEBUG, min(logging.ERROR, base - 10 * verbosity))
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=tty)
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            structlog.processors.dict_tracebacks if fmt == "json" else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        # not cached: tests call main() repeatedly with different streams and levels
        cache_logger_on_first_use=False,
    )
    # ldap3, msal and urllib3 log through the standard library. Their debug output can carry request
    # details we do not control, so they stay at WARNING whatever -v says (secret hygiene beats detail).
    logging.basicConfig(stream=stream, level=logging.WARNING, force=True)
