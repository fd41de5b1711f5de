"""Reading the world: every source's groups once, the target once, and who in them is who.

The wiring between the configuration and the I/O families, shared by `cycle` (plan, run, apply), `checks`
(`syncd check`), `person_status` (`syncd status --person --live`) and the idle-seat step: each opens sources
through one `SourceSet` and reads the target through `read_target`, so they read alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from syncd.config import Config
from syncd.errors import SourceAuthFailed, SourceError, SourceUnreachable, SyncdError
from syncd.identity import EmailKey
from syncd.matching import Matching, match_people, shown_row
from syncd.models import UNUSABLE_LISTED, Ambiguous, GroupRead, Health, LicensedUser, Owned, UnusableMember
from syncd.progress import Progress
from syncd.read_cache import SharedReads
from syncd.rules import Selection
from syncd.sources import source_type
from syncd.sources.interface import Source
from syncd.state import State
from syncd.target_read import Organization, TargetRead
from syncd.targets import target_type
from syncd.targets.interface import Target

log = structlog.get_logger("syncd.cycle")  # the cycle's logger: these lines are steps of its run


@dataclass(frozen=True)
class Readout:
    """Every (source, group) the rules name, read once, and the sources that failed as a whole."""

    reads: Mapping[tuple[str, str], GroupRead]
    source_errors: Mapping[str, SyncdError]


class SourceSet:
    """Opens configured sources on demand (one instance each), so one source can expand through another.

    A source reached through another (an Entra source expanding groups nested in Azure DevOps) is handed out
    wrapped, so that its whole-source failures (refused credentials, unreachable) are remembered here: the
    run then exits 5 exactly as if a rule's own source had failed, not 4 for a merely partial group.
    """

    def __init__(self, config: Config, stack: ExitStack, shared: SharedReads | None = None) -> None:
        self._config = config
        self._stack = stack
        self._open: dict[str, Source] = {}
        self.expansion_errors: dict[str, SyncdError] = {}
        self._shared = shared

    def get(self, name: str) -> Source:
        if name not in self._open:
            settings = self._config.source(name)

            def opened() -> Source:
                return source_type(settings.type).open(settings, self._expansion)

            # issue 19: with several targets, a group is read once per run and reused by every target
            source = opened() if self._shared is None else self._shared.source(name, opened)
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


def read_sources(config: Config, stack: ExitStack, shared: SharedReads | None = None) -> Readout:
    """Read every (source, group) the rules name. A source that fails as a whole marks its groups ERROR."""
    sources = SourceSet(config, stack, shared)
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
    return Readout(reads, errors)


def unusable_members(reads: Mapping[tuple[str, str], GroupRead]) -> tuple[UnusableMember, ...]:
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


@contextmanager
def opened_target(config: Config) -> Iterator[Target]:
    target = target_type(config.target.type).open(config.target)
    try:
        yield target
    finally:
        target.close()


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


def read_organization(
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
    names = with_aliases(candidates, desired)
    if read_along is not None and names <= wanted:
        return read_along
    organization = target.organization(names)
    if organization is None:
        log.info(
            "who can be assigned is not known ahead of the write: the organization's users are not listed"
        )
    return organization


def with_aliases(keys: Iterable[EmailKey], desired: Mapping[EmailKey, Selection]) -> frozenset[EmailKey]:
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


def unclaimed(
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


def matched_people(
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
