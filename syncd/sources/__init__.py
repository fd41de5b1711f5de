"""Membership sources, one module per `type`. Modules are imported only when configured, so a file-only
setup never imports ldap3 or msal."""

from __future__ import annotations

import importlib

from syncd.sources.interface import SourceSettings, SourceType

# type name → module exposing SOURCE_TYPE
SOURCE_MODULES: dict[str, str] = {
    "file": "syncd.sources.file",
    "ldap": "syncd.sources.ldap",
    "azure_devops": "syncd.sources.azure_devops_type",
    "entra": "syncd.sources.entra",
}


def source_type(name: str) -> SourceType[SourceSettings]:
    """The type registered under `name`, seen through the settings Protocol. Each module's SOURCE_TYPE is
    checked against its own settings class; callers only ever hand `open` the settings that type's own
    `parse` made (config keeps each source's `type` and looks the type up by it), so `open` takes them as
    they are, with no narrowing in any source."""
    module = importlib.import_module(SOURCE_MODULES[name])
    kind: SourceType[SourceSettings] = module.SOURCE_TYPE
    return kind
