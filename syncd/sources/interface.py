"""The contract every membership source implements (LDAP, Azure DevOps, Entra ID, file exports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True)
class SourceType:
    """How one `type = "…"` is configured and opened.

    `parse` reads the `[[sources]]` table (name and type already read) and must call `section.finish()`.
    `open` builds a live source; it may connect lazily. `lookup` gives other sources by name.
    """

    parse: Callable[[Section, str], SourceSettings]
    open: Callable[[SourceSettings, SourceLookup], Source]
