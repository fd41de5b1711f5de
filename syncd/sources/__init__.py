"""Membership sources, one module per `type`. Modules are imported only when configured, so a file-only
setup never imports ldap3 or msal."""

from __future__ import annotations

import importlib

from syncd.sources.interface import SourceType

# type name → module exposing SOURCE_TYPE
SOURCE_MODULES: dict[str, str] = {
    "file": "syncd.sources.file",
    "ldap": "syncd.sources.ldap",
    "azure_devops": "syncd.sources.azure_devops",
    "entra": "syncd.sources.entra",
}


def source_type(name: str) -> SourceType:
    module = importlib.import_module(SOURCE_MODULES[name])
    kind: SourceType = module.SOURCE_TYPE
    return kind
