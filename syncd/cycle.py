"""One cycle, end to end: read sources and target → judge group health → plan → guards → apply → audit.

`plan`, `run --dry-run`, `run`, `apply` and `apply --plan` all go through `run_cycle`; the only difference
is whether the side effect (the target write) happens. Everything that touches the world is here or in the
source/target modules; the decisions are in `rules` and `reconcile` (pure).
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from syncd import audit as audit_module
from syncd import clock_check, metrics, plan_file
from syncd.audit import AuditLog
from syncd.config import Config
from syncd.errors import (
    ExitCode,
    GuardTripped,
    PlanRefused,
    SourceAuthFailed,
    SourceError,
    SourceUnreachable,
    SyncdError,
)
from syncd.identity import EmailKey, normalise_identifier
from syncd.idle_seats import IdleSeatStep
from syncd.matching import Matching, match_people, shown_row
from syncd.models import (
    NONE_ROLE,
    UNUSABLE_LISTED,
    Action,
    Ambiguous,
    Change,
    ChangeResult,
    GroupRead,
    GroupStatus,
    Health,
    LicensedUser,
    Outcome,
    Owned,
    Plan,
    UnusableMember,
    rule_identity,
)
from syncd.plan_output import ambiguous_line
from syncd.progress import Progress
from syncd.reconcile import PlanInputs, Reconciliation, UnhealthyGroup, reconcile
from syncd.rules import Selection, desired_roles, inactive_members
from syncd.runlock import RunLock
from syncd.sources import source_type
from syncd.sources.interface import Source
from syncd.state import GroupBaseline, State
from syncd.state_location import carry_over, check_binding
from syncd.target_identity import binding
from syncd.target_read import Organization, TargetRead
from syncd.targets import target_type
from syncd.targets.interface import Target

log = structlog.get_logger("syncd.cycle")

REGRANT_WINDOW = timedelta(days=30)  # a seat syncd removed and someone gave back within this is reported

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CycleRequest:
    command: str  # "plan" | "run" | "apply"
    write: bool  # send changes to the target
    audit: bool  # write the audit trail (run and apply, dry or not)
    reviewed: plan_file.SavedPlan | None = None
    reviewed_path: Path | None = None
    override_guards: bool = False
    max_runtime: timedelta | None = None
    accept_clock: bool = False  # trust this run's clock although it disagrees with the last run's


@dataclass(frozen=True)
class CycleResult:
    run_id: str
    plan: Plan
    exit_code: ExitCode
    fingerprint: str
    created: datetime
    results: tuple[ChangeResult, ...] = ()
    problems: tuple[str, ...] = ()  # one line each: unreachable sources, failures, what was left
    not_applied: int = 0
    audit_path: Path | None = None
    cost: Mapping[str, Any] | None = None
    cost_lines: tuple[str, ...] = ()
    requests: Mapping[str, int] = field(default_factory=dict)
    guard: str | None = None  # `plan` only: the guard a run would trip (runs raise GuardTripped instead)
    write_attempted: bool = False  # a writing run got past planning: seats after count what 7pace confirmed

    @property
    def seats_after(self) -> int:
        """The plan's figure for a preview; for a writing run, what the target confirmed (a failed, unknown
        or never-sent change leaves its seat as it was)."""
        if not self.write_attempted:
            return self.plan.seats_after
        done = [r.change.action for r in self.results if r.outcome is Outcome.SUCCESS]
        return self.plan.seats_before + done.count(Action.ASSIGN) - done.count(Action.UNASSIGN)

    def saved(self, config: Config) -> plan_file.SavedPlan:
        return plan_file.SavedPlan(self.plan, self.fingerprint, self.created, str(config.file), self.cost)


@dataclass
class _Readout:
    reads: dict[tuple[str, str], GroupRead]
    source_errors: dict[str, SyncdError]


def _group_digest(read: GroupRead) -> str:
    digest = hashlib.sha256()
    for key in sorted(p.key for p in read.members):
        digest.update(key.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class SourceSet:
    """Opens configured sources on demand (one instance each), so one source can expand through another.

    A source reached through another (an Entra source expanding groups nested in Azure DevOps) is handed out
    wrapped, so that its whole-source failures (refused credentials, unreachable) are remembered here: the
    run then exits 5 exactly as if a rule's own source had failed, not 4 for a merely partial group.
    """

    def __init__(self, config: Config, stack: ExitStack) -> None:
        self._config = config
        self._stack = stack
        self._open: dict[str, Source] = {}
        self.expansion_errors: dict[str, SyncdError] = {}

    def get(self, name: str) -> Source:
        if name not in self._open:
            settings = self._config.source(name)
            source = source_type(settings.type).open(settings, self._expansion)
            self._stack.callback(source.close)
            self._open[name] = source
        return self._open[name]

    def _expansion(self, name: str) -> Source:
        return _WatchedSource(self.get(name), self.expansion_errors)


class _WatchedSource:
    """A source used for expansion: records (then re-raises) the failures that mean the source is down."""

    def __init__(self, inner: Source, errors: dict[str, SyncdError]) -> None:
        self._inner = inner
        self._errors = errors

    @property
    def name(self) -> str:
        return self._inner.name

    def read_group(self, group: str) -> GroupRead:
        try:
            return self._inner.read_group(group)
        except (SourceAuthFailed, SourceUnreachable) as error:
            self._errors.setdefault(self._inner.name, error)
            raise

    def close(self) -> None:  # the SourceSet closes the inner source once
        pass


def read_sources(config: Config, stack: ExitStack) -> _Readout:
    """Read every (source, group) the rules name. A source that fails as a whole marks its groups ERROR."""
    sources = SourceSet(config, stack)
    reads: dict[tuple[str, str], GroupRead] = {}
    errors: dict[str, SyncdError] = {}
    for rule in config.rules:
        pair = (rule.source, rule.group)
        if pair in reads:
            continue
        if rule.source in errors:
            reads[pair] = GroupRead(rule.source, rule.group, Health.ERROR, detail=str(errors[rule.source]))
            continue
        started = time.monotonic()
        try:
            read = sources.get(rule.source).read_group(rule.group)
        except SourceError as error:
            errors[rule.source] = error
            log.error("source failed", source=rule.source, error=str(error))
            read = GroupRead(rule.source, rule.group, Health.ERROR, detail=str(error))
        log.info(
            "group read",
            source=rule.source,
            group=rule.group,
            health=read.health.value,
            members=len(read.members),
            seconds=round(time.monotonic() - started, 3),
        )
        reads[pair] = read
    for name, failure in sources.expansion_errors.items():
        if name not in errors:
            log.error("expansion source failed", source=name, error=str(failure))
            errors[name] = failure
    return _Readout(reads, errors)


def judge_health(
    reads: Mapping[tuple[str, str], GroupRead],
    baselines: Mapping[tuple[str, str], GroupBaseline],
    max_shrink_percent: float,
    now: datetime,
) -> tuple[dict[tuple[str, str], GroupRead], dict[tuple[str, str], GroupBaseline]]:
    """Mark OK reads that emptied or shrank too much since their last good read as SUSPICIOUS.

    Returns the judged reads and the new baselines (only for reads still OK).
    """
    judged: dict[tuple[str, str], GroupRead] = {}
    good: dict[tuple[str, str], GroupBaseline] = {}
    for pair, read in reads.items():
        if read.health is not Health.OK:
            judged[pair] = read
            continue
        size = len(read.members)
        baseline = baselines.get(pair)
        if baseline is not None and baseline.size > 0:
            shrink = 100.0 * (baseline.size - size) / baseline.size
            when = baseline.read_at.strftime("%Y-%m-%d %H:%M UTC")
            if size == 0:
                judged[pair] = replace(
                    read,
                    health=Health.SUSPICIOUS,
                    detail=f"empty now, {baseline.size} member(s) at its last good read ({when})",
                )
                continue
            if shrink > max_shrink_percent:
                judged[pair] = replace(
                    read,
                    health=Health.SUSPICIOUS,
                    detail=(
                        f"shrank {shrink:.0f}% ({baseline.size} → {size}) since its last good read ({when}); "
                        f"policy.max_group_shrink_percent = {max_shrink_percent:g}"
                    ),
                )
                continue
        judged[pair] = read
        good[pair] = GroupBaseline(size, _group_digest(read), now)
    return judged, good


def _unusable(reads: Mapping[tuple[str, str], GroupRead]) -> tuple[UnusableMember, ...]:
    """The members without a usable e-mail, named by source, group and row or DN (plan JSON; `-v`)."""
    found: list[UnusableMember] = []
    for (source, group), read in sorted(reads.items()):
        for item in read.unidentified:
            if len(found) < UNUSABLE_LISTED:
                found.append(UnusableMember(source, group, item.source_id, item.display_name, item.detail))
                log.info(
                    "member without a usable e-mail, skipped",
                    source=source,
                    group=group,
                    member=item.source_id,
                    display_name=item.display_name,
                    why=item.detail,
                )
    return tuple(found)


def read_target(
    target: Target, config: Config | None = None, wanted: frozenset[EmailKey] = frozenset()
) -> TargetRead:
    """One complete, judged read of the target (TargetReadRefused otherwise: no writes, exit 5), with each
    role in the configured spelling when the server spells it another way (the target keeps its own
    spelling for writes). With `wanted`, the read also learns which of them the organization has."""
    progress = Progress(f"reading {target.name}", "seats")
    read = target.read(wanted or None)
    progress.advance(read.seats)
    progress.finish()
    if config is None:
        return read
    respelled = {
        key: replace(user, role=config.canonical_role(user.role))
        for key, user in read.licensed.items()
        if user.role not in config.role_order
    }
    if respelled:
        read = replace(read, licensed={**read.licensed, **respelled})
    return read


def _organization(
    target: Target,
    desired: Mapping[EmailKey, Selection],
    licensed: Mapping[EmailKey, LicensedUser],
    wanted: frozenset[EmailKey],
    read_along: Organization | None,
) -> Organization | None:
    """Who of the people who may need a new seat the organization has: from the target read when it could
    tell, else `GET users`, read only when someone needs a seat (an hourly run that assigns nobody sends no
    extra request). `desired` and `licensed` are matched (issue 16): a person holding a seat under another
    of their identifiers is not a candidate; a candidate is looked for under every identifier."""
    candidates = {key for key in desired if key not in licensed}
    if not candidates:
        return None
    names = _with_aliases(candidates, desired)
    if read_along is not None and names <= wanted:
        return read_along
    organization = target.organization(names)
    if organization is None:
        log.info(
            "who can be assigned is not known ahead of the write: the organization's users are not listed"
        )
    return organization


def _with_aliases(keys: Iterable[EmailKey], desired: Mapping[EmailKey, Selection]) -> frozenset[EmailKey]:
    """The keys and every other identifier of those people (7pace may know them by any)."""
    names: set[EmailKey] = set()
    for key in keys:
        names.add(key)
        selection = desired.get(key)
        if selection is not None and selection.person is not None:
            names.update(selection.person.aliases)
    return frozenset(names)


def without(desired: Mapping[EmailKey, Selection], keys: frozenset[EmailKey]) -> Mapping[EmailKey, Selection]:
    """People 7pace holds twice are left out of matching: nothing is sent for them (no copy otherwise)."""
    return {k: s for k, s in desired.items() if k not in keys} if keys else desired


def held_twice(seen: TargetRead, desired: Mapping[EmailKey, Selection]) -> tuple[Ambiguous, ...]:
    """One e-mail on several 7pace users (the target read), as the plan's one kind of ambiguity."""
    found: list[Ambiguous] = []
    for entry in seen.ambiguous:
        chosen = desired.get(entry.key)
        person = f"{entry.key} ({chosen.display_name or chosen.email})" if chosen else str(entry.key)
        holds = ", ".join(f"{u.target_id or '?'}: {u.role}" for u in entry.rows)
        found.append(
            Ambiguous(
                people=(person,),
                rows=tuple(shown_row(u) for u in entry.rows),
                seats=len(entry.rows),
                why=f"7pace holds this e-mail on several users ({holds}); nothing is sent until one remains",
                keys=(entry.key,),
            )
        )
    return tuple(found)


def _unclaimed(
    read: Mapping[EmailKey, LicensedUser], matched: Mapping[EmailKey, LicensedUser]
) -> tuple[Mapping[EmailKey, LicensedUser], tuple[LicensedUser, ...]]:
    """Rows known only by a name that is not an address (`DOMAIN\\user`) that no person matched: seats nobody
    can be matched to, counted and never touched, like rows with no name at all (issue 14 × 16)."""
    named = [k for k in read if "@" not in k]
    rows = tuple(matched[k] for k in named if k in matched)  # a matched row moved to its person's key
    if not rows:
        return matched, ()
    left = {k for k in named if k in matched}
    return {k: u for k, u in matched.items() if k not in left}, rows


def _unhealthy(config: Config, reads: Mapping[tuple[str, str], GroupRead]) -> list[UnhealthyGroup]:
    ranks: dict[tuple[str, str], int] = {}
    for rule in config.rules:
        pair = (rule.source, rule.group)
        if reads[pair].health is not Health.OK:
            ranks[pair] = max(ranks.get(pair, 0), config.rank(rule.role))
    return [
        UnhealthyGroup(s, g, reads[(s, g)].health, rank, reads[(s, g)].detail)
        for (s, g), rank in sorted(ranks.items())
    ]


def _owned_after(change: Change, now: datetime) -> Owned:
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


def _matched(
    state: State,
    desired: Mapping[EmailKey, Selection],
    licensed: Mapping[EmailKey, LicensedUser],
    config: Config,
    ledger: dict[EmailKey, Owned],
) -> Matching:
    """People matched to rows (issue 16). The ledger's ids are loaded only for entries whose key does not
    settle it (a rename, a seat or person gone) or whose 7pace id is not known yet. `ledger` is
    `state.owned()`, loaded once per run (and extended here)."""
    settled = ledger.keys() & licensed.keys() & desired.keys()
    need = (ledger.keys() - settled) | state.keys_without_seat_ids()
    if need:
        ledger.update(state.owned_with_ids(need))
    return match_people(desired, licensed, ledger, config.identity, ids_known=need)


def moved_keys(
    observed: dict[EmailKey, datetime], moves: Mapping[EmailKey, EmailKey]
) -> dict[EmailKey, datetime]:
    """Observations (absent/waiting since) under today's keys after renames."""
    for old, new in moves.items():
        if old in observed:
            observed[new] = observed.pop(old)
    return observed


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
        owned: dict[EmailKey, Owned] = {}
        released: list[EmailKey] = []
        removed: dict[EmailKey, str] = {}
        for item in intent.changes:
            change = plan_file.change_from_dict(item, f"interrupted run {intent.run_id}")
            actual = seats.role(change)
            if actual.casefold() == change.after.casefold():
                outcome, error = Outcome.SUCCESS, ""
                if change.after == NONE_ROLE:
                    released.append(change.key)
                    removed[change.key] = change.before
                else:
                    owned[change.key] = _owned_after(change, now)
            else:
                outcome = Outcome.UNKNOWN
                error = (
                    f"run {intent.run_id} was interrupted; the target shows {actual}, so it is planned again"
                )
            if audit is not None:
                audit.change(ChangeResult(change, outcome, error), batch=intent.batch, recovered=True)
            settled += 1
        state.settle_intent(intent.run_id, intent.batch, owned, released)
        if removed:  # an interrupted run's removals count against the removal window too
            state.record_removed(intent.run_id, removed, now)
    if settled:
        log.warning("settled changes of an interrupted run", changes=settled)
    return settled


def outcome_exit_code(
    source_errors: Mapping[str, SyncdError], plan: Plan, *, failed: int, not_applied: int
) -> ExitCode:
    """The exit code of a cycle that ran to its end (guards and whole failures raise their own).

    5 when a source, or a source used to expand another's groups, was down; 4 when changes failed or were
    left, or when any group was not read cleanly (missing, partial, suspicious, unreadable): the people it
    covers are held, and a scheduler must not see that as success. 4 too when a match is ambiguous (7pace
    holds a person twice, a row matches two people, a person two rows): nothing is sent for them until an
    admin merges the accounts or fixes the identifiers. Holds by grace, assignments
    blocked by the configured seat cap, seats in a role `[roles]` does not name, and people who are not
    users of the organization yet (often for good: they do not use Azure DevOps; plan, status and audit
    name them) are the policy working: 0.
    """
    if source_errors:
        return ExitCode.UNREACHABLE
    if failed or not_applied or any(g.health is not Health.OK for g in plan.groups):
        return ExitCode.PARTIAL
    if plan.ambiguous:
        return ExitCode.PARTIAL
    return ExitCode.OK


def held_problems(plan: Plan, source_errors: Mapping[str, SyncdError]) -> list[str]:
    """One line per group not read cleanly, with what it holds: why a run exits 4. The groups of a source
    that failed as a whole are left out: its own line says why."""
    held_by: dict[tuple[str, str], int] = {}
    for held in plan.held:
        if held.group:
            key = (held.source, held.group)
            held_by[key] = held_by.get(key, 0) + 1
    lines = []
    for g in plan.groups:
        if g.health is Health.OK or g.source in source_errors:
            continue
        count = held_by.get((g.source, g.group), 0)
        detail = f": {g.detail}" if g.detail else ""
        lines.append(
            f"group {g.group!r} of source {g.source} is {g.health.value}{detail}; "
            f"its rule's assignments and {count} removal(s)/downgrade(s) are held "
            "(see `syncd plan` or `syncd status`)"
        )
    return lines


def check_guards(config: Config, plan: Plan, removed_in_window: int = 0) -> str | None:
    """The global removal guards. Returns why the run must stop, or None. `removed_in_window`: seats syncd
    removed in earlier runs within policy.removal_window."""
    removals = plan.count(Action.UNASSIGN)
    policy = config.policy
    window = _window_guard(policy.removal_window, policy.max_window_removal_percent, plan, removed_in_window)
    if removals > policy.max_removals:
        return f"{removals} seat removals exceed policy.max_removals = {policy.max_removals}"
    if plan.seats_before and removals * 100.0 > policy.max_removal_percent * plan.seats_before:
        percent = 100.0 * removals / plan.seats_before
        return (
            f"{removals} seat removals are {percent:.1f}% of {plan.seats_before} seats, above "
            f"policy.max_removal_percent = {policy.max_removal_percent:g}"
        )
    return window


def _window_guard(window: timedelta, percent: float, plan: Plan, earlier: int) -> str | None:
    """The removal budget across runs: seats at the window's start are today's plus those removed since."""
    removals = plan.count(Action.UNASSIGN)
    if window <= timedelta(0) or not removals:
        return None
    base = plan.seats_before + earlier
    total = earlier + removals
    if base and total * 100.0 > percent * base:
        return (
            f"{total} seat removals within policy.removal_window = {_days(window)} ({earlier} by earlier "
            f"runs, {removals} now) are {100.0 * total / base:.1f}% of the {base} seats held at its start, "
            f"above policy.max_window_removal_percent = {percent:g}"
        )
    return None


def _days(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


@contextmanager
def opened_target(config: Config) -> Iterator[Target]:
    target = target_type(config.target.type).open(config.target)
    try:
        yield target
    finally:
        target.close()


def _summary_fields(
    result_plan: Plan, results: Sequence[ChangeResult], started: float, seats_after: int
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in results:
        label = f"{r.change.action.value}.{r.outcome.value}"
        counts[label] = counts.get(label, 0) + 1
    return {
        "syncd.changes": counts,
        "syncd.planned": {a.value: result_plan.count(a) for a in Action},
        "syncd.held": len(result_plan.held),
        "syncd.blocked": len(result_plan.blocked),
        "syncd.protected": len(result_plan.protected),
        "syncd.seats.before": result_plan.seats_before,
        "syncd.seats.after": seats_after,
        "syncd.seats.planned": result_plan.seats_after,
        "syncd.seats.limit": result_plan.seat_limit,
        "syncd.groups.held": [
            {"source": g.source, "group": g.group, "health": g.health.value, "detail": g.detail}
            for g in result_plan.groups
            if g.health is not Health.OK
        ],
        "event.duration": int((time.monotonic() - started) * 1e9),
    }


@contextmanager
def _larger_collection_steps() -> Iterator[None]:
    """A cycle allocates hundreds of thousands of long-lived objects (people, seats, changes) and almost no
    cyclic garbage. With CPython's default thresholds (700, 10, 10) the collector re-scans that growing heap
    in full collections several times per read: 0.9 s of 4.9 s CPU in a 100,000-person plan (bench/stages.py).
    A larger young generation keeps the same collector with fewer, larger steps; garbage is still freed."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class Cycle:
    """One cycle for one config. `clock` and `stop` are injectable (tests, the daemon's signal handler)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        stop: threading.Event | None = None,
        open_target: Callable[[Config], Any] = opened_target,
    ) -> None:
        self.config = config
        self.clock = clock
        self.stop = stop or threading.Event()
        self._open_target = open_target

    def run(self, request: CycleRequest) -> CycleResult:
        config = self.config
        run_id = uuid.uuid4().hex[:16]
        started = time.monotonic()
        now = self.clock()
        structlog.contextvars.bind_contextvars(run_id=run_id)
        try:
            carry_over(config.state_dir, config.legacy_state_dir, config.target)
            with (
                _larger_collection_steps(),
                RunLock(config.state_dir, request.command) as lock,
                State(config.state_dir, ran_before=lock.ran_before) as state,
                ExitStack() as stack,
            ):
                check_binding(state, config.target)
                audit: AuditLog | None = None
                clock = clock_check.suspect(now, state.last_trusted_start(), config.clock)
                distrusted = clock if clock is not None and not request.accept_clock else None
                if request.audit:
                    if distrusted is None:
                        audit_module.prune(config.audit_dir, config.audit_retention_days, now.date())
                    audit = AuditLog(
                        config.audit_dir,
                        run_id=run_id,
                        dry_run=not request.write,
                        target=config.target.type,
                        clock=self.clock,
                        target_url=binding(config.target)["url"],
                    )
                    stack.callback(audit.close)
                    state.start_run(run_id, request.command, now)
                    state.record_run_clock(run_id, now, trusted=distrusted is None)
                if clock is not None:
                    self._report_clock(clock, request.accept_clock, audit)
                try:
                    result = self._run(request, run_id, state, audit, stack, now, started, distrusted)
                except SyncdError as error:
                    error.run_id = run_id
                    if audit is not None:
                        audit.summary(
                            f"run stopped: {error}",
                            {
                                "event.outcome": "failure",
                                "process.exit.code": int(error.exit_code),
                                "error.message": str(error),
                                "event.duration": int((time.monotonic() - started) * 1e9),
                            },
                        )
                        error.audited = True
                        state.finish_run(run_id, int(error.exit_code), {"error": str(error)}, self.clock())
                        self._metrics(request, int(error.exit_code), started, None)
                    raise
                except KeyboardInterrupt:
                    # the bounded stop wait ran out (or a second signal): still account for the run
                    if audit is not None:
                        self._interrupted(audit, state, run_id, request, started)
                    raise
                except Exception:
                    if audit is not None:
                        self._metrics(request, int(ExitCode.INTERNAL), started, None)
                    raise
                if audit is not None:
                    state.finish_run(run_id, int(result.exit_code), _status_summary(result), self.clock())
                    self._metrics(request, int(result.exit_code), started, result)
                return result
        finally:
            structlog.contextvars.unbind_contextvars("run_id")

    def _report_clock(self, why: str, accepted: bool, audit: AuditLog | None) -> None:
        if accepted:
            message = f"clock confirmed with --accept-clock although {why}"
        else:
            message = (
                f"clock not trusted: {why}; grace expiry, audit retention and plan age are not judged "
                "this run (removals are held); fix the clock, or confirm it with --accept-clock"
            )
        log.warning(message)
        if audit is not None:
            audit.clock_suspect(message, accepted)

    def _interrupted(
        self, audit: AuditLog, state: State, run_id: str, request: CycleRequest, started: float
    ) -> None:
        message = (
            "run interrupted before it could finish; a batch being sent keeps its intent and the next run "
            "settles it"
        )
        code = int(ExitCode.PARTIAL)
        audit.summary(
            message,
            {
                "event.outcome": "failure",
                "process.exit.code": code,
                "error.message": message,
                "event.duration": int((time.monotonic() - started) * 1e9),
            },
        )
        state.finish_run(run_id, code, {"error": message}, self.clock())
        self._metrics(request, code, started, None)

    def _run(
        self,
        request: CycleRequest,
        run_id: str,
        state: State,
        audit: AuditLog | None,
        stack: ExitStack,
        now: datetime,
        started: float,
        distrusted: str | None = None,
    ) -> CycleResult:
        config = self.config
        readout = read_sources(config, stack)
        reads, good = judge_health(
            readout.reads, state.group_baselines(), config.policy.max_group_shrink_percent, now
        )
        desired = desired_roles(config.rules, reads, config.rank)
        owned = state.owned()
        # people who may need a seat (selected, no seat syncd knows of): the target read then also says
        # which of them are users of the organization, in the same pages (docs/contract.md §1.4)
        wanted = _with_aliases((key for key in desired if key not in owned), desired)
        target: Target = stack.enter_context(self._open_target(config))
        seen = read_target(target, config, wanted)
        licensed = seen.licensed
        log.info(
            "target read",
            target=config.target.type,
            licensed=len(licensed),
            unmatched=len(seen.unmatched),
            ambiguous=len(seen.ambiguous),
        )
        if request.write:
            settled = settle_interrupted(state, audit, licensed, now)
            if settled:
                seen = read_target(target, config, wanted)
                licensed = seen.licensed
                owned = state.owned()

        idle = self._idle_step(request, state, audit, now, reads, stack)
        if idle is not None:
            desired = idle.desired(desired)
        seat_info = target.seats()
        groups = tuple(
            GroupStatus(s, g, r.health, len(r.members), r.detail) for (s, g), r in sorted(reads.items())
        )
        matched = _matched(state, without(desired, seen.ambiguous_keys), licensed, config, owned)
        twice = held_twice(seen, desired)
        plan_licensed, unmatched_rows = _unclaimed(licensed, matched.licensed)
        unmatched = seen.unmatched_lines() + tuple(
            f"{u.unique_name or u.email} ({u.role})" for u in unmatched_rows
        )
        unmatched_ids = frozenset(
            [u.target_id.casefold() for u in seen.unmatched if u.target_id]
            + [u.target_id.casefold() for u in unmatched_rows if u.target_id]
        )
        organization = _organization(target, matched.desired, plan_licensed, wanted, seen.organization)
        recently_removed = state.removed_since(now - max(REGRANT_WINDOW, config.policy.removal_window))
        recon: Reconciliation = reconcile(
            PlanInputs(
                desired=matched.desired,
                licensed=plan_licensed,
                owned=matched.owned,
                absent_since=moved_keys(state.absent_since(), matched.rekey),
                waiting_since=moved_keys(state.waiting_since(), matched.rekey),
                unhealthy=_unhealthy(config, reads),
                policy=config.policy,
                rank=config.rank,
                now=now,
                target_seat_limit=seat_info.assignable if seat_info else None,
                groups=groups,
                unidentified=sum(len(r.unidentified) for r in reads.values()),
                inactive=inactive_members(config.rules, reads, desired),
                clock_suspect=distrusted,
                regranted={
                    k: at
                    for k, at in recently_removed.items()
                    if k in plan_licensed and k not in matched.owned and at >= now - REGRANT_WINDOW
                },
                # the unmatched rows and every row of an e-mail 7pace holds twice
                extra_seats=seen.seats - len(licensed) + len(unmatched_rows),
                unmatched=unmatched,
                unmatched_ids=unmatched_ids,
                known_roles=frozenset(config.role_order),
                organization=organization,
                renamed=matched.renamed,
                ambiguous=twice + matched.ambiguous,
                ambiguous_seats=matched.ambiguous_seats,
                identifiers=matched.identifiers,
            )
        )
        # seats nobody can be matched to, and people 7pace holds twice, are part of the world a plan saw
        held_elsewhere = {f"unmatched:{n}:{line}": "" for n, line in enumerate(seen.unmatched_lines())}
        held_elsewhere |= {f"ambiguous:{a.key}": str(len(a.rows)) for a in seen.ambiguous}
        roles_seen: dict[str, str] = {k: u.role for k, u in licensed.items()}
        roles_seen.update(held_elsewhere)
        fingerprint = plan_file.fingerprint(
            config.digest, {k: s.role for k, s in desired.items()}, roles_seen
        )
        plan = replace(recon.plan, unusable=_unusable(reads), notes=recon.plan.notes + _target_notes(target))
        # Observations are facts about the world, remembered by every run (a dry run advances the grace
        # clock too, so turning writes on later does not restart every grace period). A `plan` is a preview
        # and writes nothing: had it recorded waiting times for the people the seat cap blocked, they would
        # jump the queue, and the next plan (or the apply) would pick others than the one reviewed.
        if request.audit:
            state.record_group_reads(good)
            # renames first: the observations use today's keys (issue 16)
            state.rekey(matched.rekey, matched.renamed, now)
            if audit is not None:
                for renamed in matched.renamed:
                    audit.renamed(renamed)
            state.replace_observations(recon.absent_since, recon.waiting_since)
            if matched.refresh:
                state.record_owned(matched.refresh)
            if recon.adopt:
                state.record_owned({k: matched.with_ids(k, o) for k, o in recon.adopt.items()})
            if recon.disown or matched.dropped:
                state.forget_owned(recon.disown | matched.dropped)

        if idle is not None:
            # the matched views (issue 16): seats, people and the ledger under the person's key, as in the
            # plan, with this run's adoptions (what state.owned() holds after an audited run's writes)
            ledger_now = {**matched.owned, **recon.adopt}
            for gone in recon.disown | matched.dropped:
                ledger_now.pop(gone, None)
            plan = idle.extend(plan, target, plan_licensed, matched.desired, ledger_now)
            if request.reviewed is not None:  # a reviewed reclaim of someone who worked since is held
                request = replace(request, reviewed=idle.settle_reviewed(request.reviewed, plan))
        if request.reviewed is not None:
            if distrusted is not None:
                raise PlanRefused(
                    f"{request.reviewed_path}: the clock is not trusted ({distrusted}), so the plan's age "
                    "cannot be judged; fix the clock, or confirm it with --accept-clock"
                )
            plan = self._reviewed(request, plan, fingerprint, state, good_reads=reads, now=now)

        cost, cost_lines = self._cost(plan, now)
        problems = [f"source {name}: {error}" for name, error in readout.source_errors.items()]
        if distrusted is not None:
            problems.append(f"clock not trusted: {distrusted}; removals held (confirm with --accept-clock)")
        regranted = [h.change.email for h in plan.held if h.cause == "re-granted"]
        if regranted:
            problems.append(
                f"{len(regranted)} seat(s) syncd removed were given back outside syncd (e.g. "
                f"{regranted[0]}): is a second syncd instance, or a person, managing this organisation? "
                "Held, not removed again"
            )
        problems += held_problems(plan, readout.source_errors)
        problems += [f"{e.email}: left alone ({e.kind}): {e.why}" for e in plan.left_alone[:20]]
        problems += [f"left alone (ambiguous): {ambiguous_line(a)}" for a in plan.ambiguous[:20]]
        problems += idle.take_problems() if idle is not None else []
        base = CycleResult(run_id, plan, ExitCode.OK, fingerprint, now, (), (), 0, None, cost, cost_lines)

        window_start = now - config.policy.removal_window
        guard = check_guards(config, plan, sum(1 for at in recently_removed.values() if at >= window_start))
        if guard and not (request.override_guards and request.reviewed is not None):
            if request.command == "plan":
                # a preview still shows (and saves) the plan, so it can be reviewed and approved
                exit_code = ExitCode.UNREACHABLE if readout.source_errors else ExitCode.GUARD
                return replace(base, exit_code=exit_code, problems=tuple(problems), guard=guard)
            return self._stop_for_guard(request, base, guard, audit)

        if not request.write:
            exit_code = outcome_exit_code(readout.source_errors, plan, failed=0, not_applied=0)
            if audit is not None:
                self._audit_dry(audit, plan, base, started, exit_code)
            return replace(base, exit_code=exit_code, problems=tuple(problems), audit_path=_path(audit))

        if idle is not None:
            plan = idle.before_write(plan, target, plan_licensed)
            problems += idle.take_problems()
            base = replace(base, plan=plan)
        results, not_applied = self._apply(request, target, plan, state, audit, run_id)
        if idle is not None:
            idle.after_write(results)
        results = self._verify(target, results, state)
        failed = [r for r in results if r.outcome is not Outcome.SUCCESS]
        problems += [
            f"{r.change.email}: {r.change.action.value} {r.outcome.value}: {r.error}" for r in failed
        ]
        if not_applied:
            problems.append(
                f"{not_applied} change(s) not applied: stopped before the end (see the audit log)"
            )
        if self.stop.is_set():
            problems.append("stopped by a signal: the batch in flight was finished and recorded")
        exit_code = outcome_exit_code(
            readout.source_errors, plan, failed=len(failed), not_applied=not_applied
        )
        if exit_code is ExitCode.OK and (self.stop.is_set() or (idle is not None and idle.unread_holds)):
            exit_code = ExitCode.PARTIAL  # stopped, or reclaims held because activity could not be read
        result = replace(
            base,
            exit_code=exit_code,
            results=tuple(results),
            problems=tuple(problems),
            not_applied=not_applied,
            audit_path=_path(audit),
            requests=_request_counts(target),
            write_attempted=True,
        )
        if audit is not None:
            for held in plan.held:
                audit.held(held)
            for change in plan.blocked:
                audit.blocked(change, plan.seat_limit)
            for entry in plan.left_alone:
                audit.left_alone(entry)
            for ambiguous in plan.ambiguous:
                audit.ambiguous(ambiguous)
            audit.summary(
                _summary_message(result),
                _summary_fields(plan, results, started, result.seats_after)
                | {
                    "event.outcome": "success" if exit_code is ExitCode.OK else "failure",
                    "process.exit.code": int(exit_code),
                    "syncd.not_applied": not_applied,
                },
            )
        return result

    def _metrics(
        self, request: CycleRequest, exit_code: int, started: float, result: CycleResult | None
    ) -> None:
        path = self.config.metrics_file
        if path is None:
            return
        changes: dict[tuple[str, str], int] = {}
        plan = result.plan if result is not None else None
        for r in result.results if result is not None else ():
            label = (r.change.action.value, r.outcome.value)
            changes[label] = changes.get(label, 0) + 1
        try:
            metrics.write(
                path,
                metrics.RunMetrics(
                    finished=self.clock(),
                    exit_code=exit_code,
                    duration_seconds=time.monotonic() - started,
                    dry_run=not request.write,
                    seats_before=plan.seats_before if plan else None,
                    seats_after=result.seats_after if result is not None else None,
                    seat_limit=plan.seat_limit if plan else None,
                    changes=changes,
                    held=len(plan.held) if plan else 0,
                    blocked=len(plan.blocked) if plan else 0,
                    groups_not_ok=sum(1 for g in plan.groups if g.health is not Health.OK) if plan else 0,
                ),
            )
        except OSError as error:  # metrics are a convenience: never fail a run over them
            log.warning("metrics file not written", path=str(path), error=error.strerror)

    # -- steps ---------------------------------------------------------------------------------------
    def _reviewed(
        self,
        request: CycleRequest,
        fresh: Plan,
        fingerprint: str,
        state: State,
        *,
        good_reads: Mapping[tuple[str, str], GroupRead],
        now: datetime,
    ) -> Plan:
        reviewed = request.reviewed
        assert reviewed is not None
        if reviewed.fingerprint != fingerprint:
            raise PlanRefused(
                f"{request.reviewed_path}: the world has drifted since this plan was made (config, group "
                "members or target roles changed); make and review a new plan with `syncd plan --out FILE`"
            )
        plan = reviewed.plan
        _refuse_unexplained(request.reviewed_path, plan, fresh, request.override_guards)
        if request.override_guards:
            # An approved plan may also release removals held only because a group looked suspicious
            # (emptied or shrank a lot): the reviewer saw them listed. Missing or unreadable groups stay held.
            released = tuple(h.change for h in plan.held if h.cause == Health.SUSPICIOUS.value)
            if released:
                plan = replace(
                    plan,
                    changes=tuple(
                        sorted((*plan.changes, *released), key=lambda c: (_ORDER[c.action], c.key))
                    ),
                    held=tuple(h for h in plan.held if h.cause != Health.SUSPICIOUS.value),
                    seats_after=plan.seats_after - sum(1 for c in released if c.action is Action.UNASSIGN),
                )
                accepted = {
                    (g.source, g.group): GroupBaseline(g.members, "", now)
                    for g in plan.groups
                    if g.health is Health.SUSPICIOUS
                }
                state.record_group_reads(accepted)
        return plan

    def _idle_step(
        self,
        request: CycleRequest,
        state: State,
        audit: AuditLog | None,
        now: datetime,
        reads: Mapping[tuple[str, str], GroupRead],
        stack: ExitStack,
    ) -> IdleSeatStep | None:
        """The idle-seat steps (issue 18), when `[reclaim]` is configured."""
        if self.config.reclaim is None:
            return None
        step = IdleSeatStep(
            self.config, self.config.reclaim, state, write=request.write, audit=audit, now=now
        )
        step.read_groups(reads, stack)
        return step

    def _stop_for_guard(
        self, request: CycleRequest, base: CycleResult, guard: str, audit: AuditLog | None
    ) -> CycleResult:
        config = self.config
        saved_path = config.state_dir / f"refused-plan-{base.run_id}.json"
        key = config.plan_signing_key.resolve() if config.plan_signing_key is not None else None
        plan_file.save(saved_path, base.saved(config), key)
        message = (
            f"guard stopped the run, nothing applied: {guard}. Review {saved_path} and, if it is right, "
            f"run `syncd apply --plan {saved_path} --override-guards`"
        )
        if audit is not None:
            audit.guard_stop(
                message,
                _summary_fields(base.plan, (), time.monotonic(), base.plan.seats_before)
                | {"syncd.plan.file": str(saved_path), "process.exit.code": int(ExitCode.GUARD)},
            )
        raise GuardTripped(message)

    def _audit_dry(
        self, audit: AuditLog, plan: Plan, base: CycleResult, started: float, exit_code: ExitCode
    ) -> None:
        for change in plan.changes:
            audit.planned(change)
        for held in plan.held:
            audit.held(held)
        for change in plan.blocked:
            audit.blocked(change, plan.seat_limit)
        for entry in plan.left_alone:
            audit.left_alone(entry)
        for ambiguous in plan.ambiguous:
            audit.ambiguous(ambiguous)
        audit.summary(
            f"dry run: {len(plan.changes)} change(s) planned, nothing applied",
            _summary_fields(plan, (), started, plan.seats_after)
            | {
                "event.outcome": "success" if exit_code is ExitCode.OK else "failure",
                "process.exit.code": int(exit_code),
            },
        )

    def _apply(
        self,
        request: CycleRequest,
        target: Target,
        plan: Plan,
        state: State,
        audit: AuditLog | None,
        run_id: str,
    ) -> tuple[list[ChangeResult], int]:
        deadline = (
            time.monotonic() + request.max_runtime.total_seconds()
            if request.max_runtime is not None
            else None
        )
        results: list[ChangeResult] = []
        changes = plan.changes
        progress = Progress(f"applying to {target.name}", "changes", len(changes))
        for number, (start, batch) in enumerate(_batches(changes, max(1, target.batch_size)), start=1):
            if self.stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                left = len(changes) - start
                why = "stop requested" if self.stop.is_set() else "--max-runtime reached"
                progress.finish()
                log.warning("stopping before the next batch", why=why, left=left)
                return results, left
            now = self.clock()
            state.write_intent(run_id, number, [plan_file.change_to_dict(c) for c in batch], now)
            if audit is not None:
                audit.intent(number, batch)
            outcomes = list(target.apply(batch))
            owned: dict[EmailKey, Owned] = {}
            released: list[EmailKey] = []
            removed: dict[EmailKey, str] = {}
            for result in outcomes:
                if result.outcome is Outcome.SUCCESS:
                    if result.change.after == NONE_ROLE:
                        released.append(result.change.key)
                        removed[result.change.key] = result.change.before
                    else:
                        owned[result.change.key] = _owned_after(result.change, now)
                if audit is not None:
                    audit.change(result, batch=number)
            if any(r.outcome is Outcome.UNKNOWN for r in outcomes):
                # keep the intent: the next run reads the target and settles what actually happened
                state.record_owned(owned)
                state.forget_owned(released)
            else:
                state.settle_intent(run_id, number, owned, released)
            if removed:
                state.record_removed(run_id, removed, now)
            results.extend(outcomes)
            progress.advance(len(batch))
            log.info("batch applied", batch=number, size=len(batch), done=len(results), total=len(changes))
        progress.finish()
        return results, 0

    def _verify(self, target: Target, results: list[ChangeResult], state: State) -> list[ChangeResult]:
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

    def _cost(self, plan: Plan, now: datetime) -> tuple[Mapping[str, Any] | None, tuple[str, ...]]:
        if self.config.pricing is None:
            return None, ()
        from syncd.pricing import preview

        result = preview(self.config.pricing, plan.seats_before, plan.seats_after, now.date())
        return result.as_dict(), tuple(result.lines())


_ORDER = {Action.UNASSIGN: 0, Action.CHANGE: 1, Action.ASSIGN: 2}


def _refuse_unexplained(path: Path | None, reviewed: Plan, fresh: Plan, override_guards: bool) -> None:
    """A reviewed plan may only carry changes the same inputs make now (the fingerprint says they are the
    same inputs, and planning is deterministic): a change that a fresh plan would not make was put there by
    hand, whatever its seal says. With --override-guards, the suspicious-group removals it releases must be
    ones the fresh plan holds for that reason."""

    def shape(change: Change) -> tuple[str, str, str, str]:
        return (change.key, change.action.value, change.before, change.after)

    allowed = {shape(c) for c in fresh.changes}
    releasable = {shape(h.change) for h in fresh.held if h.cause == Health.SUSPICIOUS.value}
    extra = [c for c in reviewed.changes if shape(c) not in allowed]
    if override_guards:
        extra += [
            h.change
            for h in reviewed.held
            if h.cause == Health.SUSPICIOUS.value and shape(h.change) not in releasable
        ]
    if extra:
        first = extra[0]
        more = f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""
        raise PlanRefused(
            f"{path}: plan holds a change the current inputs do not produce: {first.action.value} "
            f"{first.email} {first.before} → {first.after}{more}; nothing applied; make and review a new "
            "plan with `syncd plan --out FILE`"
        )


def _batches(changes: Sequence[Change], size: int) -> Iterator[tuple[int, Sequence[Change]]]:
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


def _path(audit: AuditLog | None) -> Path | None:
    return audit.path if audit is not None else None


def _target_notes(target: Target) -> tuple[str, ...]:
    """What the target has to say about its last read (TrackingTime: seats held by pending invitations)."""
    notes = getattr(target, "notes", None)
    return tuple(notes()) if callable(notes) else ()


def _request_counts(target: Target) -> dict[str, int]:
    stats = getattr(target, "request_counts", None)
    if callable(stats):
        counts: dict[str, int] = dict(stats())
        return counts
    return {}


def _summary_message(result: CycleResult) -> str:
    ok = sum(1 for r in result.results if r.outcome is Outcome.SUCCESS)
    failed = len(result.results) - ok
    return (
        f"run finished: {ok} change(s) applied, {failed} failed, {result.not_applied} not applied, "
        f"{len(result.plan.held)} held; seats {result.plan.seats_before} → {result.seats_after}"
    )


def _status_summary(result: CycleResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "planned": {a.value: plan.count(a) for a in Action},
        "applied": sum(1 for r in result.results if r.outcome is Outcome.SUCCESS),
        "failed": sum(1 for r in result.results if r.outcome is not Outcome.SUCCESS),
        "not_applied": result.not_applied,
        "seats_before": plan.seats_before,
        "seats_after": result.seats_after,
        "seat_limit": plan.seat_limit,
        "held": [
            {
                "email": h.change.email,
                "action": h.change.action.value,
                "why": h.why,
                "due": h.due.isoformat() if h.due else None,
            }
            for h in plan.held
        ],
        "blocked": [c.email for c in plan.blocked],
        "left_alone": [{"email": e.email, "kind": e.kind, "why": e.why} for e in plan.left_alone]
        + [
            {"email": " and ".join(a.people), "kind": "ambiguous", "why": f"{' and '.join(a.rows)}: {a.why}"}
            for a in plan.ambiguous
        ],
        "unmatched": list(plan.unmatched),
        "groups": [
            {
                "source": g.source,
                "group": g.group,
                "health": g.health.value,
                "members": g.members,
                "detail": g.detail,
            }
            for g in plan.groups
        ],
        "problems": list(result.problems),
        "cost": dict(result.cost) if result.cost is not None else None,
        "cost_lines": list(result.cost_lines),
        "idle": [
            {
                "email": s.email,
                "role": s.role,
                "rule": s.rule,
                "idle_since": s.idle_since.date().isoformat(),
                "days": s.days,
                "status": s.status,
                "devops_last_access": s.devops,
            }
            for s in plan.idle
        ],
        "idle_summary": plan.idle_summary,
    }
