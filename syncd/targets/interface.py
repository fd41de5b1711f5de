"""The contract of a licence target (7pace Timetracker now; more may follow)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from syncd.config_section import Section
from syncd.identity import EmailKey
from syncd.models import Change, ChangeResult, LicensedUser, SeatInfo
from syncd.pricing import PricingModel
from syncd.target_read import Organization, TargetRead


class Target(Protocol):
    """**Protocol**: where seats live.

    `read()` reads every seat and judges the read (syncd/target_read.py): a complete `TargetRead`, or
    `TargetReadRefused` (partial / inconsistent: no writes this run). `licensed()` yields its matched people.
    `organization()` lists who can be given a seat (None when the target cannot tell).
    `apply(batch)` sends one batch and returns exactly one `ChangeResult` per change, in order. The caller
    (the cycle) is the one owner of slicing: it sends at most `batch_size` changes, unassignments in batches
    of their own, and records intent before each; `apply` never re-slices (it may retry a batch refused whole
    in halves). A change the target reports as failed is `FAILURE`; one whose fate is unknown (connection
    lost mid-request) is `UNKNOWN`. Whole-target failures raise `TargetUnreachable`/`TargetAuthFailed`.
    `roles()` lists the role names the target accepts, or None when it cannot tell.
    `notes()` is what the plan should say about the last read beyond its `TargetRead` (TrackingTime: seats
    held by pending invitations); `request_counts()` is the requests sent so far by kind, plus "throttled"
    and "retries", for the run summary and metrics.
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

    def roles(self) -> tuple[str, ...] | None: ...

    def notes(self) -> tuple[str, ...]: ...

    def request_counts(self) -> Mapping[str, int]: ...

    def close(self) -> None: ...


class TargetSettings(Protocol):
    """**Protocol**: the validated, frozen settings of the `[target]` table."""

    @property
    def type(self) -> str: ...


S = TypeVar("S", bound=TargetSettings)


@dataclass(frozen=True)
class TargetType(Generic[S]):
    """How one `[target] type = "…"` is configured and opened, generic over its own settings class.

    `parse` reads the `[target]` table (type already read) and must call `section.finish()`; `open` takes
    the settings its own `parse` made (the registry pairs them by `type`: no narrowing).
    `default_roles` is the `[roles] order` used when the config sets none (empty: syncd's 7pace default).
    `pricing_model` is how the vendor bills this type: a `[pricing]` table prices a target only when its model
    is this one, so no target is ever priced by another vendor's rules (None: no model fits)."""

    parse: Callable[[Section], S]
    open: Callable[[S], Target]
    default_roles: tuple[str, ...] = ()
    pricing_model: PricingModel | None = None
