"""The contract every membership source implements (LDAP, Azure DevOps, Entra ID, file exports)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from syncd.config_section import Section
from syncd.models import GroupRead


class Source(Protocol):
    """**Protocol**: a named membership source, used by the cycle and by `syncd check`.

    `read_group` returns the transitive, de-duplicated members of one group with a health verdict. A group
    that cannot be found is `Health.MISSING`, a read that could not finish is `ERROR` or `PARTIAL` — never an
    empty OK read. Whole-source failures (cannot connect, credentials refused) raise `SourceUnreachable` or
    `SourceAuthFailed` with the host and step named. Implementations never write to the directory.
    """

    @property
    def name(self) -> str: ...

    def read_group(self, group: str) -> GroupRead: ...

    def close(self) -> None: ...


class SourceSettings(Protocol):
    """**Protocol**: the validated, frozen settings of one `[[sources]]` entry."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


SourceLookup = Callable[[str], Source]
"""Opens another configured source by name (the azure_devops source expands Entra groups through one)."""


S = TypeVar("S", bound=SourceSettings)

CrossCheck = Callable[[S, Sequence[SourceSettings]], Iterable[tuple[str, str]]]
"""Checks one source's settings against every configured source: yields (key, problem) pairs, which
config.py reports as `sources[i].<key>: <problem>`."""


@dataclass(frozen=True)
class SourceType(Generic[S]):
    """How one `type = "…"` is configured and opened, generic over its own settings class.

    `parse` reads the `[[sources]]` table (name and type already read) and must call `section.finish()`.
    `open` builds a live source from the settings its own `parse` made (the registry pairs them by `type`, so
    no narrowing is needed); it may connect lazily. `lookup` gives other sources by name.
    `cross_check`, when set, validates references to other sources (e.g. azure_devops' expand_entra_with),
    so config.py never knows one type's keys.
    """

    parse: Callable[[Section, str], S]
    open: Callable[[S, SourceLookup], Source]
    cross_check: CrossCheck[S] | None = None
