"""The contract of a licence target (7pace Timetracker now; more may follow)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from syncd.config_section import Section
from syncd.models import Change, ChangeResult, LicensedUser, SeatInfo


class Target(Protocol):
    """**Protocol**: where seats live.

    `licensed()` yields every user holding a role other than None (streamed page by page).
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

    def licensed(self) -> Iterable[LicensedUser]: ...

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
