"""The contract of a licence target (7pace Timetracker now; more may follow)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from syncd.config_section import Section
from syncd.identity import EmailKey
from syncd.models import Change, ChangeResult, LicensedUser, SeatInfo
from syncd.target_read import Organization, TargetRead


class Target(Protocol):
    """**Protocol**: where seats live.

    `read()` reads every seat and judges the read (syncd/target_read.py): a complete `TargetRead`, or
    `TargetReadRefused` (partial / inconsistent: no writes this run). `licensed()` yields its matched people.
    `organization()` lists who can be given a seat (None when the target cannot tell).
    `apply(batch)` sends one batch and returns exactly one `ChangeResult` per change, in order; the caller
    chooses batch sizes (`batch_size`) so it can record intent before each batch. A change the target
    reports as failed is `FAILURE`; one whose fate is unknown (connection lost mid-request) is `UNKNOWN`.
    Whole-target failures raise `TargetUnreachable`/`TargetAuthFailed`.
    `roles()` lists the role names the target accepts, or None when it cannot tell.
    """

    @property
    def name(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    def read(self, wanted: Collection[EmailKey] | None = None) -> TargetRead: ...

    def licensed(self) -> Iterable[LicensedUser]: ...

    def organization(self, wanted: Collection[EmailKey] | None = None) -> Organization | None: ...

    def apply(self, batch: Sequence[Change]) -> Sequence[ChangeResult]: ...

    def seats(self) -> SeatInfo | None: ...

    def close(self) -> None: ...


class TargetSettings(Protocol):
    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class TargetType:
    """`parse` reads the `[target]` table (type already read) and must call `section.finish()`.
    `default_roles` is the `[roles] order` used when the config sets none (empty: syncd's 7pace default)."""

    parse: Callable[[Section], TargetSettings]
    open: Callable[[TargetSettings], Target]
    default_roles: tuple[str, ...] = ()
