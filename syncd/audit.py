"""The audit trail: one JSON object per line, one per change and one per run, in dated files
`audit-YYYY-MM-DD.jsonl` (UTC) under `[audit] dir`.

A product contract, not a diagnostic: written through its own structlog logger (never the global
configuration, so `-q` or a test's log setup cannot silence it), flushed line by line, appended to (no
rename rotation: it fails on Windows while a reader has the file open). Field names follow ECS with our own
under `syncd.*` (style-and-operations.md B4). Schema changes bump `syncd.audit.schema`.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from syncd import __version__
from syncd.errors import StorageError
from syncd.models import (
    Action,
    Ambiguous,
    Change,
    ChangeResult,
    Health,
    Held,
    LeftAlone,
    Outcome,
    Plan,
    Renamed,
)

AUDIT_SCHEMA = 1
ECS_VERSION = "8.11.0"
BLOCKED = "seat-blocked"
HELD = "seat-held"
INTENT = "batch-intent"
SUMMARY = "run-summary"
GUARD_STOP = "guard-stop"
CLOCK_SUSPECT = "clock-suspect"
STATE_REBUILT = "state-rebuilt"
ALERT = "alert"
LEFT_ALONE = "seat-left-alone"
RENAMED = "seat-renamed"  # issue 16: a seat and its ownership followed a person to a new address

_EVENT_TYPE = {
    Action.ASSIGN.value: ["user", "creation"],
    Action.CHANGE.value: ["user", "change"],
    Action.UNASSIGN.value: ["user", "deletion"],
}


def _rename_event(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event["message"] = event.pop("event", "")
    return event


def audit_file(directory: Path, day: date) -> Path:
    return directory / f"audit-{day.isoformat()}.jsonl"


PRUNE_SHARE = 0.1  # at most this share of the dated files is deleted by one run (at least one file)


def prune(directory: Path, retention_days: int, today: date) -> list[Path]:
    """Delete dated audit files older than the retention. Returns what was removed.

    Bounded, so that a wrong clock cannot take the trail with it (issue 21): the newest file is never
    deleted, and one run deletes at most PRUNE_SHARE of the files, oldest first; a backlog (retention
    shortened) is worked off over the following runs."""
    cutoff = today - timedelta(days=retention_days)
    dated: list[tuple[date, Path]] = []
    for path in directory.glob("audit-*.jsonl"):
        try:
            dated.append((date.fromisoformat(path.stem.removeprefix("audit-")), path))
        except ValueError:
            continue  # not ours
    dated.sort()
    budget = max(1, int(len(dated) * PRUNE_SHARE))
    removed: list[Path] = []
    for day, path in dated[:-1]:
        if day >= cutoff or len(removed) >= budget:
            break
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise _storage(path, error) from None
        removed.append(path)
    return removed


def repair_torn_line(path: Path) -> bool:
    """End a last line cut short (disk full, power cut mid-write) with a newline, so the next event starts a
    line of its own instead of being glued onto the fragment; readers skip the fragment. True if repaired."""
    try:
        with path.open("rb+") as handle:
            handle.seek(0, 2)
            if handle.tell() == 0:
                return False
            handle.seek(-1, 2)
            if handle.read(1) == b"\n":
                return False
            handle.write(b"\n")
            return True
    except FileNotFoundError:
        return False


def _storage(path: Path, error: OSError) -> StorageError:
    return StorageError(
        f"audit log {path} cannot be written: {error.strerror or error}; free space or make the folder "
        "writable; nothing was sent after the failed write"
    )


class AuditLog:
    """Writes audit events for one run. Thread-safe through structlog's WriteLogger lock."""

    def __init__(
        self,
        directory: Path,
        *,
        run_id: str,
        dry_run: bool,
        target: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        target_url: str = "",
        target_name: str | None = None,
        create: bool = True,
    ) -> None:
        self.directory = directory
        self.target_name = target_name  # issue 19: the `[[targets]]` name, when the config lists its targets
        self.target_url = target_url  # host/path of the target (issue 21): tells targets apart in one trail
        self.run_id = run_id
        self.dry_run = dry_run
        self.target = target
        self._clock = clock
        self._day: date | None = None
        self._handle: IO[str] | None = None
        self._logger: Any = None
        self._host = socket.gethostname()
        if not create:  # a NullAuditLog writes nowhere
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _storage(directory, error) from None

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with contextlib.suppress(OSError):  # every event was flushed when written; nothing is pending
                handle.close()

    @property
    def path(self) -> Path:
        return audit_file(self.directory, (self._day or self._clock().date()))

    @property
    def trail(self) -> Path | None:
        """The file this run's events go to, or None when the run keeps no trail (NullAuditLog)."""
        return self.path

    def _emit(self, message: str, fields: Mapping[str, Any]) -> None:
        try:
            self._write(message, fields)
        except OSError as error:
            self.close()  # a half-written handle is not reused; the next event reopens (and repairs)
            raise _storage(audit_file(self.directory, self._day or self._clock().date()), error) from None

    def _write(self, message: str, fields: Mapping[str, Any]) -> None:
        now = self._clock()
        if self._day != now.date() or self._handle is None:
            # one file per UTC day, reopened when the day turns during a long run
            self.close()
            self._day = now.date()
            path = audit_file(self.directory, self._day)
            repair_torn_line(path)
            self._handle = path.open("a", encoding="utf-8")
            self._logger = structlog.wrap_logger(
                structlog.WriteLogger(self._handle),
                processors=[_rename_event, structlog.processors.JSONRenderer(ensure_ascii=False)],
                # explicit, so the global diagnostics level (-q, interactive commands) can never filter it
                wrapper_class=structlog.make_filtering_bound_logger(0),
                cache_logger_on_first_use=False,
            )
        record: dict[str, Any] = {
            "@timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "ecs.version": ECS_VERSION,
            "log.level": "info",
            "service.name": "syncd",
            "service.version": __version__,
            "host.name": self._host,
            "event.kind": "event",
            "event.category": ["iam"],
            **fields,
            "syncd.run.id": self.run_id,
            "syncd.dry_run": self.dry_run,
            "syncd.target": self.target,
            **({"syncd.target.url": self.target_url} if self.target_url else {}),
            **({"syncd.target.name": self.target_name} if self.target_name else {}),
            "syncd.audit.schema": AUDIT_SCHEMA,
        }
        self._logger.info(message, **record)

    def _change_fields(self, change: Change, action: str, outcome: str) -> dict[str, Any]:
        reason = change.reason
        fields: dict[str, Any] = {
            "event.action": action,
            "event.type": _EVENT_TYPE.get(change.action.value, ["user", "info"]),
            "event.outcome": outcome,
            "event.reason": reason.text,
            "user.target.email": change.email,
            "user.target.roles": [change.before],
            "user.changes.roles": [change.after],
        }
        if change.target_id:
            fields["user.target.id"] = change.target_id
        # issue 16: the person behind the row (their key and immutable id) and every identifier used, so
        # `syncd audit --user` finds them by any name, across renames
        if change.key != change.email:
            fields["syncd.person.key"] = change.key
        if change.person_id:
            fields["syncd.person.id"] = change.person_id
        if change.identifiers:
            fields["syncd.identifiers"] = list(change.identifiers)
        if reason.source:
            fields["syncd.source"] = reason.source
        if reason.group:
            fields["group.name"] = reason.group
        if reason.rule:
            fields["syncd.rule"] = reason.rule
        if reason.via:
            fields["syncd.via"] = list(reason.via)
        return fields

    def change(self, result: ChangeResult, *, batch: int | None = None, recovered: bool = False) -> None:
        change = result.change
        fields = self._change_fields(change, change.action.value, result.outcome.value)
        if batch is not None:
            fields["syncd.batch"] = batch
        if recovered:
            fields["syncd.recovered"] = True  # outcome established by the next run after an interruption
        if result.error:
            fields["error.message"] = result.error
        verb = {"success": "done", "failure": "FAILED", "unknown": "outcome unknown"}[result.outcome.value]
        self._emit(f"{change.action.value} {change.email}: {change.before} → {change.after} ({verb})", fields)

    def planned(self, change: Change) -> None:
        """A dry run's change: what would have been done."""
        fields = self._change_fields(change, change.action.value, Outcome.UNKNOWN.value)
        self._emit(
            f"{change.action.value} {change.email}: {change.before} → {change.after} (dry run)", fields
        )

    def held(self, held: Held) -> None:
        fields = self._change_fields(held.change, HELD, Outcome.UNKNOWN.value)
        fields["syncd.intended.action"] = held.change.action.value
        fields["syncd.held.why"] = held.why
        if held.due is not None:
            fields["syncd.held.due"] = held.due.astimezone(UTC).isoformat(timespec="seconds")
        self._emit(f"held {held.change.action.value} of {held.change.email}: {held.why}", fields)

    def left_alone(self, entry: LeftAlone) -> None:
        """A person nothing was sent for (unknown role, not in the organization, unproven)."""
        self._emit(
            f"left alone {entry.email}: {entry.kind}: {entry.why}",
            {
                "event.action": LEFT_ALONE,
                "event.outcome": Outcome.UNKNOWN.value,
                "user.target.email": entry.email,
                "user.target.roles": [entry.role],
                "syncd.wanted.role": entry.wanted,
                "syncd.left_alone.kind": entry.kind,
                "syncd.left_alone.why": entry.why,
            },
        )

    def ambiguous(self, entry: Ambiguous) -> None:
        """People matched ambiguously (one e-mail on two 7pace users, a row matching two people, a person two
        rows): nothing sent, one event per person so `audit --user` finds it."""
        line = f"{' and '.join(entry.people)} ↔ {' and '.join(entry.rows)}: {entry.why}"
        for key in entry.keys or ("",):
            self._emit(
                f"left alone {key or ' and '.join(entry.people)}: ambiguous: {line}",
                {
                    "event.action": LEFT_ALONE,
                    "event.outcome": Outcome.UNKNOWN.value,
                    "user.target.email": key,
                    "syncd.left_alone.kind": "ambiguous",
                    "syncd.left_alone.why": entry.why,
                    "syncd.ambiguous.people": list(entry.people),
                    "syncd.ambiguous.rows": list(entry.rows),
                    "syncd.ambiguous.seats": entry.seats,
                },
            )

    def blocked(self, change: Change, limit: int | None) -> None:
        fields = self._change_fields(change, BLOCKED, Outcome.FAILURE.value)
        fields["error.message"] = f"seat limit {limit} reached"
        self._emit(f"blocked seat-assign of {change.email}: seat limit {limit} reached", fields)

    def renamed(self, renamed: Renamed) -> None:
        """The ledger moved a seat to the person's new address: no write to the target, nothing churned."""
        fields: dict[str, Any] = {
            "event.action": RENAMED,
            "event.type": ["user", "change"],
            "event.outcome": Outcome.SUCCESS.value,
            "event.reason": renamed.how,
            "user.target.email": renamed.key,
            "syncd.renamed.from": renamed.before,
        }
        if renamed.target_id:
            fields["user.target.id"] = renamed.target_id
        if renamed.person_id:
            fields["syncd.person.id"] = renamed.person_id
        self._emit(
            f"renamed {renamed.before} → {renamed.key}: seat and ownership kept ({renamed.how})", fields
        )

    def intent(self, batch: int, changes: Sequence[Change]) -> None:
        self._emit(
            f"sending batch {batch} of {len(changes)} change(s)",
            {
                "event.action": INTENT,
                "event.outcome": Outcome.UNKNOWN.value,
                "syncd.batch": batch,
                "syncd.batch.emails": [c.email for c in changes],
            },
        )

    def clock_suspect(self, message: str, accepted: bool) -> None:
        self._emit(
            message,
            {
                "event.action": CLOCK_SUSPECT,
                "event.outcome": Outcome.UNKNOWN.value,
                "syncd.clock.accepted": accepted,
            },
        )

    def state_rebuilt(self, message: str, fields: Mapping[str, Any]) -> None:
        self._emit(message, {"event.action": STATE_REBUILT, "event.outcome": Outcome.SUCCESS.value, **fields})

    def guard_stop(self, message: str, summary: Mapping[str, Any]) -> None:
        self._emit(message, {"event.action": GUARD_STOP, "event.outcome": Outcome.FAILURE.value, **summary})

    def event(self, action: str, message: str, fields: Mapping[str, Any]) -> None:
        """Any other audited act, named by `action` (e.g. "reclaim-warning", "reclaim-grant")."""
        self._emit(message, {"event.action": action, "event.outcome": Outcome.SUCCESS.value, **fields})

    def alert(self, channel: str, event: str, title: str, error: str) -> None:
        """An alert sent, or not (a failing channel never fails the run; it is recorded here)."""
        fields: dict[str, Any] = {
            "event.action": ALERT,
            "event.outcome": Outcome.FAILURE.value if error else Outcome.SUCCESS.value,
            "syncd.alert.channel": channel,
            "syncd.alert.event": event,
            "syncd.alert.title": title,
        }
        if error:
            fields["error.message"] = error
        verb = "not sent" if error else "sent"
        self._emit(f"alert {verb} to {channel}: {event}: {title}", fields)

    def summary(self, message: str, fields: Mapping[str, Any]) -> None:
        self._emit(message, {"event.action": SUMMARY, **fields})

    def failed(self, message: str, error: str, exit_code: int, started: float) -> None:
        """The summary of a run that did not reach its end (an error, or an interruption)."""
        self.summary(
            message,
            {
                "event.outcome": "failure",
                "process.exit.code": exit_code,
                "error.message": error,
                "event.duration": _duration(started),
            },
        )

    def left_over(self, plan: Plan) -> None:
        """What a run leaves for later, dry or not: holds, seats blocked by the cap, people left alone."""
        for held in plan.held:
            self.held(held)
        for change in plan.blocked:
            self.blocked(change, plan.seat_limit)
        for entry in plan.left_alone:
            self.left_alone(entry)
        for ambiguous in plan.ambiguous:
            self.ambiguous(ambiguous)


class NullAuditLog(AuditLog):
    """An audit log that records nothing: a run that keeps no trail (`syncd plan`) calls the same steps as
    one that does, so whether a trail is kept changes where events go, not the cycle's control flow."""

    def __init__(self, *, run_id: str = "", target: str = "") -> None:
        super().__init__(Path(), run_id=run_id, dry_run=True, target=target, create=False)

    @property
    def trail(self) -> Path | None:
        return None

    def _emit(self, message: str, fields: Mapping[str, Any]) -> None:
        pass


def _duration(started: float) -> int:
    """Nanoseconds since `started` (a time.monotonic() reading), as ECS's event.duration."""
    return int((time.monotonic() - started) * 1e9)


def summary_fields(
    plan: Plan, results: Sequence[ChangeResult], started: float, seats_after: int
) -> dict[str, Any]:
    """The counts every run-summary and guard-stop event carries (docs: the audit schema)."""
    counts: dict[str, int] = {}
    for r in results:
        label = f"{r.change.action.value}.{r.outcome.value}"
        counts[label] = counts.get(label, 0) + 1
    return {
        "syncd.changes": counts,
        "syncd.planned": {a.value: plan.count(a) for a in Action},
        "syncd.held": len(plan.held),
        "syncd.blocked": len(plan.blocked),
        "syncd.protected": len(plan.protected),
        "syncd.seats.before": plan.seats_before,
        "syncd.seats.after": seats_after,
        "syncd.seats.planned": plan.seats_after,
        "syncd.seats.limit": plan.seat_limit,
        "syncd.groups.held": [
            {"source": g.source, "group": g.group, "health": g.health.value, "detail": g.detail}
            for g in plan.groups
            if g.health is not Health.OK
        ],
        "event.duration": _duration(started),
    }
