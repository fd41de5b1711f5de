"""In-memory fakes of the two I/O Protocols, with scripted failures: the core runs against them in
milliseconds, so each safety rule of the cycle is tested directly rather than through an emulator.

`FakeSource` implements `syncd.sources.interface.Source`; `FakeTarget` implements
`syncd.targets.interface.Target`. The module-level assignments at the bottom make mypy check that they do.
A fake holds the world it pretends to read (who is in which group, who holds which seat) and records what
it was asked (groups read, batches applied), so a test states the world, runs the core and asserts on both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from syncd.config_section import Section
from syncd.errors import SourceUnreachable, TargetUnreachable
from syncd.identity import EmailKey, normalise_email
from syncd.models import (
    NONE_ROLE,
    Change,
    ChangeResult,
    GroupRead,
    Health,
    LicensedUser,
    Outcome,
    Person,
    SeatInfo,
)
from syncd.sources.interface import Source, SourceLookup, SourceSettings, SourceType
from syncd.target_read import Organization, ReadHealth, TargetRead, TargetReadRefused, judge
from syncd.targets.interface import Target, TargetSettings, TargetType


def key(email: str) -> EmailKey:
    found = normalise_email(email)
    assert found is not None, email
    return found


# -- source --------------------------------------------------------------------------------------------


class FakeSource:
    """Groups held in memory. `health[group]` scripts a read that is not OK (MISSING, ERROR, PARTIAL; a
    PARTIAL read still carries the members it got, as a real paging failure does); `unreachable` makes
    every read fail as a whole (the source is down: `SourceUnreachable`)."""

    def __init__(self, name: str, groups: Mapping[str, Iterable[str]] | None = None) -> None:
        self._name = name
        self.groups: dict[str, list[str]] = {g: list(m) for g, m in (groups or {}).items()}
        self.health: dict[str, Health] = {}
        self.unreachable = False
        self.reads: list[str] = []
        self.closed = 0

    @property
    def name(self) -> str:
        return self._name

    def read_group(self, group: str) -> GroupRead:
        self.reads.append(group)
        if self.unreachable:
            raise SourceUnreachable(f"source {self._name}: connection refused (scripted)")
        scripted = self.health.get(group)
        if scripted is Health.MISSING or (scripted is None and group not in self.groups):
            return GroupRead(self._name, group, Health.MISSING, detail="no such group (scripted)")
        if scripted is Health.ERROR:
            return GroupRead(self._name, group, Health.ERROR, detail="read failed (scripted)")
        members = tuple(Person(key(email), email) for email in self.groups.get(group, ()))
        if scripted is Health.PARTIAL:
            return GroupRead(self._name, group, Health.PARTIAL, members, detail="paging broke off (scripted)")
        return GroupRead(self._name, group, Health.OK, members)

    def close(self) -> None:
        self.closed += 1


@dataclass(frozen=True)
class FakeSourceSettings:
    """The `[[sources]]` entry of a fake: opening it hands out the very fake the test holds."""

    name: str
    source: FakeSource = field(compare=False, repr=False)
    type: str = "fake"


def _parse(section: Section, name: str) -> SourceSettings:
    raise NotImplementedError("fake sources are built in code, never read from a config file")


def _open(settings: SourceSettings, lookup: SourceLookup) -> Source:
    assert isinstance(settings, FakeSourceSettings)
    return settings.source


SOURCE_TYPE = SourceType(parse=_parse, open=_open)
"""Registered as `type = "fake"` by the unit suite's fixture (the registry imports this module by name)."""


# -- target --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeTargetSettings:
    """`[target]` of the fake: a URL, so the state is bound to it like to a real organisation."""

    url: str = "https://fake.example/org"
    type: str = "fake"


@dataclass
class BatchScript:
    """What the target does with the n-th batch it is sent (1-based, counted over the fake's life)."""

    fail: set[int] = field(default_factory=set)  # every change refused: FAILURE, nothing changes
    unknown: set[int] = field(default_factory=set)  # the changes take, but the answer is lost: UNKNOWN
    unknown_not_taken: set[int] = field(default_factory=set)  # answer lost and nothing took: UNKNOWN
    unreachable: set[int] = field(default_factory=set)  # connection lost before sending: raises


class FakeTarget:
    """An organisation in memory: `users` maps each user's e-mail to their role ("None": a user without a
    seat, who can be given one). `refuse_read` makes every read refused (partial/inconsistent: no writes
    this run); `script` scripts batches; `assignable` is the seat count the target reports (None: unknown).
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        batch_size: int = 100,
        assignable: int | None = None,
    ) -> None:
        self.users: dict[str, str] = dict(users or {})
        self._batch_size = batch_size
        self.assignable = assignable
        self.refuse_read: ReadHealth | None = None
        self.script = BatchScript()
        self.batches: list[tuple[Change, ...]] = []
        self.reads = 0
        self.closed = 0

    # the world, as the test sees it
    def seated(self) -> dict[str, str]:
        """Who holds a seat, and in which role."""
        return {email: role for email, role in sorted(self.users.items()) if role != NONE_ROLE}

    # -- Target ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return "fake target"

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def read(self, wanted: Collection[EmailKey] | None = None) -> TargetRead:
        self.reads += 1
        if self.refuse_read is not None:
            raise TargetReadRefused(self.refuse_read, "fake target:", "scripted refusal")
        read = judge(self.licensed(), (), "fake target:")
        if wanted is not None:
            read = replace(read, organization=self.organization(wanted))
        return read

    def licensed(self) -> list[LicensedUser]:
        return [self._row(email, role) for email, role in sorted(self.users.items()) if role != NONE_ROLE]

    def organization(self, wanted: Collection[EmailKey] | None = None) -> Organization | None:
        rows = (self._row(email, role) for email, role in self.users.items())
        return Organization({row.key: row for row in rows if wanted is None or row.key in wanted})

    def apply(self, batch: Sequence[Change]) -> list[ChangeResult]:
        # the cycle is the one owner of slicing: every run with this fake checks it kept to batch_size
        assert 0 < len(batch) <= self._batch_size, f"batch of {len(batch)}, batch_size {self._batch_size}"
        self.batches.append(tuple(batch))
        number = len(self.batches)
        if number in self.script.unreachable:
            raise TargetUnreachable(f"{self.name}: connection reset before batch {number} (scripted)")
        if number in self.script.fail:
            return [ChangeResult(c, Outcome.FAILURE, "refused (scripted)") for c in batch]
        if number not in self.script.unknown_not_taken:
            for change in batch:
                self.users[self._email_of(change)] = change.after
        if number in self.script.unknown or number in self.script.unknown_not_taken:
            return [ChangeResult(c, Outcome.UNKNOWN, "answer lost (scripted)") for c in batch]
        return [ChangeResult(c, Outcome.SUCCESS) for c in batch]

    def seats(self) -> SeatInfo | None:
        return SeatInfo(self.assignable) if self.assignable is not None else None

    def roles(self) -> tuple[str, ...] | None:
        return None  # like a target that cannot list its roles: the configured order is trusted

    def notes(self) -> tuple[str, ...]:
        return ()

    def request_counts(self) -> dict[str, int]:
        return {"read": self.reads, "write": len(self.batches)}

    def close(self) -> None:
        self.closed += 1

    # -- helpers ---------------------------------------------------------------------------------------
    def _row(self, email: str, role: str) -> LicensedUser:
        return LicensedUser(key(email), email, role, target_id=f"id-{email}")

    def _email_of(self, change: Change) -> str:
        for email in self.users:
            if key(email) == change.key:
                return email
        return change.email


def _parse_target(section: Section) -> TargetSettings:
    settings = FakeTargetSettings(url=section.str("url", FakeTargetSettings.url))
    section.finish()
    return settings


def _open_target(settings: TargetSettings) -> Target:
    raise NotImplementedError("the unit world hands its FakeTarget to Cycle(open_target=…)")


TARGET_TYPE = TargetType(parse=_parse_target, open=_open_target)
"""Registered as `type = "fake"` too, so a config file can name the fake target (config.parse)."""


# mypy checks the fakes against the Protocols here (a missing or mistyped member fails `mypy --strict`)
_source: type[Source] = FakeSource
_target: type[Target] = FakeTarget
