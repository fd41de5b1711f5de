"""Applying a plan: batches sent in order, each under a recorded intent, then verified by a fresh read.

The intent is written before a batch is sent and settled after its outcomes are recorded, so a run killed
in between leaves a trail the next run settles from the target's roles (`settle_interrupted`). The cycle is
the one owner of batch size: it slices here; a target's `apply` never re-slices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from syncd import plan_file
from syncd.audit import AuditLog
from syncd.identity import EmailKey, normalise_identifier
from syncd.idle_seats import IdleSeatStep
from syncd.models import (
    NONE_ROLE,
    Action,
    Change,
    ChangeResult,
    LicensedUser,
    Outcome,
    Owned,
    Plan,
    rule_identity,
)
from syncd.progress import Progress
from syncd.state import State
from syncd.targets.interface import Target

log = structlog.get_logger("syncd.cycle")  # the cycle's logger: these lines are steps of its run


def owned_after(change: Change, now: datetime) -> Owned:
    """The ledger entry a change that took leaves: the seat, under the rule that gave it."""
    reason = change.reason
    rule = rule_identity(reason.source, reason.group, change.after)
    return Owned(change.after, rule, now, change.target_id, "", change.person_id)


class SeatLookup:
    """The target's rows by 7pace id and by identifier key: a change is found by the id it was planned
    with, else by the identifier it was written as, else by its person's key (issue 16: the person's key
    is not always the row's)."""

    def __init__(self, rows: Iterable[LicensedUser]) -> None:
        self._by_key: dict[str, LicensedUser] = {}
        self._by_id: dict[str, LicensedUser] = {}
        for row in rows:
            self._by_key.setdefault(row.key, row)
            if row.target_id:
                self._by_id.setdefault(row.target_id, row)

    def row(self, change: Change) -> LicensedUser | None:
        row = self._by_id.get(change.target_id) if change.target_id else None
        if row is None:
            written = normalise_identifier(change.email)
            row = self._by_key.get(written) if written is not None else None
        if row is None:
            row = self._by_key.get(change.key)
        # a new seat written by e-mail to a 7pace that lists only unique names: any of the person's names
        for item in change.identifiers if row is None else ():
            name = normalise_identifier(item.partition(":")[2])
            row = self._by_key.get(name) if name is not None else None
            if row is not None:
                break
        return row

    def role(self, change: Change) -> str:
        row = self.row(change)
        return row.role if row is not None else NONE_ROLE


def batches(changes: Sequence[Change], size: int) -> Iterator[tuple[int, Sequence[Change]]]:
    """(start, batch) of at most `size` changes; unassignments never share a batch with other changes, so
    seats are freed by POSTs of their own before any assignment is sent (docs/contract.md §1.5)."""
    start = 0
    while start < len(changes):
        freeing = changes[start].action is Action.UNASSIGN
        end = start + 1
        while (
            end < len(changes) and end - start < size and (changes[end].action is Action.UNASSIGN) == freeing
        ):
            end += 1
        yield start, changes[start:end]
        start = end


def apply_changes(
    target: Target,
    changes: Sequence[Change],
    *,
    state: State,
    audit: AuditLog,
    run_id: str,
    clock: Callable[[], datetime],
    stop: threading.Event,
    deadline: float | None,
) -> tuple[list[ChangeResult], int]:
    """Send the changes in batches of `target.batch_size`. Returns the results and how many changes were
    left unsent (a stop was requested, or the `time.monotonic()` deadline passed, between batches)."""
    results: list[ChangeResult] = []
    progress = Progress(f"applying to {target.name}", "changes", len(changes))
    for number, (start, batch) in enumerate(batches(changes, max(1, target.batch_size)), start=1):
        if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
            left = len(changes) - start
            why = "stop requested" if stop.is_set() else "--max-runtime reached"
            progress.finish()
            log.warning("stopping before the next batch", why=why, left=left)
            return results, left
        now = clock()
        state.write_intent(run_id, number, [plan_file.change_to_dict(c) for c in batch], now)
        audit.intent(number, batch)
        outcomes = list(target.apply(batch))
        for result in outcomes:
            audit.change(result, batch=number)
        owned, released, removed = _bookkeeping(r.change for r in outcomes if r.outcome is Outcome.SUCCESS)
        if any(r.outcome is Outcome.UNKNOWN for r in outcomes):
            # keep the intent: the next run reads the target and settles what actually happened
            state.record_owned({key: owned_after(change, now) for key, change in owned.items()})
            state.forget_owned(released)
        else:
            state.settle_intent(
                run_id, number, {key: owned_after(change, now) for key, change in owned.items()}, released
            )
        if removed:
            state.record_removed(run_id, removed, now)
        results.extend(outcomes)
        progress.advance(len(batch))
        log.info("batch applied", batch=number, size=len(batch), done=len(results), total=len(changes))
    progress.finish()
    return results, 0


@dataclass(frozen=True)
class Sent:
    """The apply step's result. A dry run sends nothing: its plan, no results, nothing left."""

    plan: Plan
    results: tuple[ChangeResult, ...] = ()
    not_applied: int = 0
    problems: tuple[str, ...] = ()
    short: bool = False  # stopped, or reclaims held for unread activity: at best exit 4
    requests: Mapping[str, int] = field(default_factory=dict)


def send_plan(
    target: Target,
    plan: Plan,
    licensed: Mapping[EmailKey, LicensedUser],
    *,
    state: State,
    audit: AuditLog,
    run_id: str,
    clock: Callable[[], datetime],
    stop: threading.Event,
    max_runtime: timedelta | None,
    idle: IdleSeatStep | None,
) -> Sent:
    """The write step: the idle-seat step's last word, the batches, then a fresh read verifies them."""
    problems: list[str] = []
    if idle is not None:
        plan = idle.before_write(plan, target, licensed)
        problems += idle.take_problems()
    deadline = time.monotonic() + max_runtime.total_seconds() if max_runtime is not None else None
    results, not_applied = apply_changes(
        target,
        plan.changes,
        state=state,
        audit=audit,
        run_id=run_id,
        clock=clock,
        stop=stop,
        deadline=deadline,
    )
    if idle is not None:
        idle.after_write(results)
    results = verify(target, results, state)
    problems += [
        f"{r.change.email}: {r.change.action.value} {r.outcome.value}: {r.error}"
        for r in results
        if r.outcome is not Outcome.SUCCESS
    ]
    if not_applied:
        problems.append(f"{not_applied} change(s) not applied: stopped before the end (see the audit log)")
    if stop.is_set():
        problems.append("stopped by a signal: the batch in flight was finished and recorded")
    short = stop.is_set() or (idle is not None and idle.unread_holds > 0)
    return Sent(plan, tuple(results), not_applied, tuple(problems), short)


def _bookkeeping(
    done: Iterable[Change],
) -> tuple[dict[EmailKey, Change], list[EmailKey], dict[EmailKey, str]]:
    """What changes that took do to the ledger: seats now owned, seats released, and the roles removed."""
    owned: dict[EmailKey, Change] = {}
    released: list[EmailKey] = []
    removed: dict[EmailKey, str] = {}
    for change in done:
        if change.after == NONE_ROLE:
            released.append(change.key)
            removed[change.key] = change.before
        else:
            owned[change.key] = change
    return owned, released, removed


def verify(target: Target, results: list[ChangeResult], state: State) -> list[ChangeResult]:
    """Re-read the target: the POST is not assumed atomic, so report what did not take. New seats'
    7pace ids go into the ledger now, so a rename before the next run cannot orphan them (issue 16)."""
    if not any(r.outcome is Outcome.SUCCESS for r in results):
        return results
    actual = SeatLookup(target.read().licensed.values())
    verified: list[ChangeResult] = []
    seat_ids: dict[EmailKey, tuple[str, str]] = {}
    for r in results:
        row = actual.row(r.change)
        now_role = row.role if row is not None else NONE_ROLE
        if row is not None and row.target_id and r.change.action is Action.ASSIGN:
            seat_ids[r.change.key] = (row.target_id, row.vsts_id)
        if r.outcome is Outcome.SUCCESS and now_role.casefold() != r.change.after.casefold():
            verified.append(
                ChangeResult(r.change, Outcome.FAILURE, f"accepted, but the target now shows {now_role}")
            )
        else:
            verified.append(r)
    state.record_seat_ids(seat_ids)
    return verified


def settle_interrupted(
    state: State, audit: AuditLog | None, licensed: Mapping[EmailKey, LicensedUser], now: datetime
) -> int:
    """Complete the bookkeeping of batches an earlier run sent but never recorded (killed, power cut).

    The target's current roles say what took: a change that shows is recorded as owned and audited as a
    success; one that does not is audited as unknown and will simply be planned again.
    """
    settled = 0
    seats = SeatLookup(licensed.values())
    for intent in state.pending_intents():
        took: list[Change] = []
        for item in intent.changes:
            change = plan_file.change_from_dict(item, f"interrupted run {intent.run_id}")
            actual = seats.role(change)
            if actual.casefold() == change.after.casefold():
                outcome, error = Outcome.SUCCESS, ""
                took.append(change)
            else:
                outcome = Outcome.UNKNOWN
                error = (
                    f"run {intent.run_id} was interrupted; the target shows {actual}, so it is planned again"
                )
            if audit is not None:
                audit.change(ChangeResult(change, outcome, error), batch=intent.batch, recovered=True)
            settled += 1
        owned, released, removed = _bookkeeping(took)
        state.settle_intent(
            intent.run_id, intent.batch, {key: owned_after(c, now) for key, c in owned.items()}, released
        )
        if removed:  # an interrupted run's removals count against the removal window too
            state.record_removed(intent.run_id, removed, now)
    if settled:
        log.warning("settled changes of an interrupted run", changes=settled)
    return settled
