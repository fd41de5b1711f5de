"""The exception tree. Every error a user can cause or meet has a class here, and each class carries the
documented exit code, so `cli.main` needs one lookup and no guessing (docs/architecture.md, "Exit codes")."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Stable process exit codes. Task Scheduler shows them in hex (0x3, 0xA); README lists both forms."""

    OK = 0
    INTERNAL = 1
    CONFIG = 2
    GUARD = 3
    PARTIAL = 4
    UNREACHABLE = 5
    LOCKED = 6
    CHANGES_PENDING = 10


class SyncdError(Exception):
    """Base of every expected failure. `str(error)` is the one line shown to the user."""

    exit_code: ExitCode = ExitCode.INTERNAL
    run_id: str | None = None  # set by the cycle when the run had started (alerts name the run)
    # set by the cycle once it wrote this failure's run-summary, so the CLI does not record the run twice
    audited: bool = False


class ConfigError(SyncdError):
    """The configuration (or a file it names) is invalid. Carries every problem found, one line each."""

    exit_code = ExitCode.CONFIG

    def __init__(self, lines: list[str] | str) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class UsageError(SyncdError):
    """Command-line usage the parser cannot catch (flag combinations, unreadable plan files)."""

    exit_code = ExitCode.CONFIG


class InputError(SyncdError):
    """A data file named by the configuration (an export, a users file) is malformed."""

    exit_code = ExitCode.CONFIG


class GuardTripped(SyncdError):
    """A safety guard stopped the run before any write."""

    exit_code = ExitCode.GUARD


class PlanRefused(SyncdError):
    """A reviewed plan cannot be applied (drifted, too old, or tampered with)."""

    exit_code = ExitCode.GUARD


class PartialFailure(SyncdError):
    """Some changes failed or did not take; the audit log has one record per failure."""

    exit_code = ExitCode.PARTIAL


class RemoteError(SyncdError):
    """A remote system could not be reached, refused the credentials, or answered nonsense."""

    exit_code = ExitCode.UNREACHABLE


class RemoteUnreachable(RemoteError):
    """Network failure, timeout, retries exhausted, 5xx that did not clear."""


class RemoteAuthFailed(RemoteError):
    """401/403, bad credentials, expired token, a sign-in page instead of JSON."""


class RemoteProtocolError(RemoteError):
    """The remote answered with something that does not follow its documented contract."""


class SourceError(RemoteError):
    """Base for failures of a whole source (per-group failures are reported as health instead)."""


class SourceUnreachable(SourceError, RemoteUnreachable):
    pass


class SourceAuthFailed(SourceError, RemoteAuthFailed):
    pass


class SourceProtocolError(SourceError, RemoteProtocolError):
    """A directory API answered outside its contract (read_group turns it into an ERROR health)."""


class TargetError(RemoteError):
    """Base for failures talking to the licence target."""


class TargetUnreachable(TargetError, RemoteUnreachable):
    pass


class TargetAuthFailed(TargetError, RemoteAuthFailed):
    pass


class TargetProtocolError(TargetError, RemoteProtocolError):
    pass


class LockHeld(SyncdError):
    """Another run holds the state directory's lock; nothing was done."""

    exit_code = ExitCode.LOCKED


class StateError(SyncdError):
    """The state directory or database is unusable (corrupt, from a newer syncd, not writable)."""

    exit_code = ExitCode.CONFIG


class StorageError(SyncdError):
    """A local folder or disk syncd must write to (state, audit, lock, saved plans) is read-only, full or
    failing. Nothing is sent to the target after the failed write. Exit 5, like an unreachable peer: the
    environment, not the configuration, is at fault."""

    exit_code = ExitCode.UNREACHABLE


class StateDamaged(StateError):
    """The state database exists but has lost its content (emptied, copied without its -wal): never treated as
    a first run. `syncd state rebuild --from-audit` recovers the ownership ledger."""
