"""The `type = "azure_devops"` registry entry: parse (syncd.sources.azure_devops), open Services or Server,
and the cross-check of the other sources it names. It sits above both implementations, which import only
syncd.sources.azure_devops, so the family has no import circle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from syncd.sources.azure_devops import AzureDevOpsServicesSource, AzureDevOpsSettings, parse
from syncd.sources.interface import Source, SourceLookup, SourceSettings, SourceType


def open_source(settings: AzureDevOpsSettings, lookup: SourceLookup) -> Source:
    if settings.is_server:
        # imported here: a Services-only setup never loads the Server family
        from syncd.sources.azure_devops_server import AzureDevOpsServerSource

        return AzureDevOpsServerSource(settings, lookup)
    return AzureDevOpsServicesSource(settings, lookup)


def cross_check(
    settings: AzureDevOpsSettings, sources: Sequence[SourceSettings]
) -> Iterator[tuple[str, str]]:
    """A source that expands nested groups through another names it: that one must exist and be of the
    type that can read those groups (entra for Entra groups, ldap for Windows groups)."""
    kinds = {s.name: s.type for s in sources}
    for key, other, wanted in (
        ("expand_entra_with", settings.expand_entra_with, "entra"),
        ("expand_windows_with", settings.expand_windows_with, "ldap"),
    ):
        if other and kinds.get(other) != wanted:
            found = f"is a {kinds[other]} source" if other in kinds else "is not defined"
            yield key, f'{other!r} {found}; name a [[sources]] entry with type = "{wanted}"'


SOURCE_TYPE = SourceType(parse=parse, open=open_source, cross_check=cross_check)
